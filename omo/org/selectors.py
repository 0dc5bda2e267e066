"""Reads of the organisation layer, with their queries spelled out."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from omo.core.errors import ApplicationError
from omo.org.access import scope_to_user
from omo.org.models import Location, SalesChannel, StaffProfile


def location_list(*, active_only: bool = False) -> QuerySet[Location]:
    """Locations are not confidential: every staff member and channel may read them (stock lookup,
    pickup store choice)."""
    qs = Location.objects.select_related("supplying_warehouse").order_by("code")
    return qs.filter(is_active=True) if active_only else qs


def location_codes() -> list[str]:
    return list(Location.objects.order_by("code").values_list("code", flat=True))


def sales_channel_list() -> QuerySet[SalesChannel]:
    return SalesChannel.objects.order_by("code")


def staff_list(*, user) -> QuerySet[StaffProfile]:
    """Staff ``user`` may see: their own store's for store roles, everyone for HQ."""
    qs = StaffProfile.objects.select_related("user", "home_store").prefetch_related("user__groups")
    return scope_to_user(qs, user).order_by("employee_code")


def resolve_locations(codes: list[str]) -> dict[str, Location]:
    """The locations of ``codes`` (one query); a 400 ``unknown_location`` naming every code not found."""
    found = {loc.code: loc for loc in Location.objects.filter(code__in=set(codes))}
    missing = sorted(set(codes) - set(found))
    if missing:
        raise ApplicationError(
            _("Unknown location: %(codes)s.") % {"codes": ", ".join(missing)},
            code="unknown_location",
            details={"locations": missing},
        )
    return found


def pos_channel():
    """The sales channel the store counters sell on (the first active POS channel, reused a few seconds
    per process), or a 422 ``no_pos_channel`` when none is set up."""
    from django.utils.translation import gettext as _

    from omo.core.config_cache import cached
    from omo.core.errors import BusinessRuleError
    from omo.org.models import SalesChannel

    channel = cached(
        ("pos-channel",),
        lambda: SalesChannel.objects.filter(kind=SalesChannel.Kind.POS, is_active=True).order_by("code").first(),
    )  # reused a few seconds per process, like the other channel settings
    if channel is None:
        raise BusinessRuleError(_("No POS sales channel is set up."), code="no_pos_channel")
    return channel
