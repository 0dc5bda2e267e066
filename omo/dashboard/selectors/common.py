"""Names the dashboard's figures show for ids, fetched once per page."""

from __future__ import annotations

from django.utils.translation import gettext as _

from omo.org.models import Location, SalesChannel


def store_names() -> dict[int | None, str]:
    names: dict[int | None, str] = {loc.pk: f"{loc.code} {loc.name}" for loc in Location.objects.only("code", "name")}
    names[None] = _("Online, shipped")
    return names


def channel_names() -> dict[int, str]:
    return {ch.pk: f"{ch.code} {ch.name}" for ch in SalesChannel.objects.only("code", "name")}


def channel_kinds() -> dict[int, str]:
    return dict(SalesChannel.objects.values_list("pk", "kind"))
