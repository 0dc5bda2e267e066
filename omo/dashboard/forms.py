from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from omo.org.access import ALL_STORES, store_ids_for
from omo.org.models import Location, SalesChannel

COMPARE_LABELS = [
    ("previous", _("The period before")),
    ("last_year", _("The same days last year")),
    ("none", _("Nothing")),
]


def filter_choices(user) -> dict:
    """What the filter bar offers ``user``: the stores they may see, every channel, the comparisons."""
    allowed = store_ids_for(user)
    stores = Location.objects.filter(kind=Location.Kind.STORE).order_by("code")
    if allowed is not ALL_STORES:
        stores = stores.filter(pk__in=allowed)
    return {
        "stores": [(s.code, f"{s.code} {s.name}") for s in stores],
        "channels": [(c.code, f"{c.code} {c.name}") for c in SalesChannel.objects.order_by("code")],
        "compares": COMPARE_LABELS,
    }


class TrafficUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Traffic CSV"),
        help_text=_(
            "Columns store, channel, day, hour, visits: a store's door counter per hour, or a web/app "
            "channel's sessions per day. A count sent again for the same hour or day replaces the old one."
        ),
    )
