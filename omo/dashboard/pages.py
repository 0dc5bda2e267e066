"""The dashboard's pages in menu order: key, title, and the selector module whose ``page(filters)``
builds it."""

from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

PAGES = [
    ("sales", _("Sales"), "omo.dashboard.selectors.sales"),
    ("formula", _("Traffic × conversion × ticket"), "omo.dashboard.selectors.formula"),
    ("members", _("OMO members"), "omo.dashboard.selectors.members"),
    ("flows", _("Cross-channel flows"), "omo.dashboard.selectors.flows"),
    ("clerks", _("Clerk attribution"), "omo.dashboard.selectors.clerks"),
    ("inventory", _("Inventory health"), "omo.dashboard.selectors.inventory"),
    ("loyalty", _("Coupons and points"), "omo.dashboard.selectors.loyalty"),
]
PAGE_KEYS = [key for key, _title, _module in PAGES]


def build(key: str, filters):
    from omo.dashboard.rollups import live_cache

    module = dict((k, m) for k, _t, m in PAGES)[key]
    with live_cache():
        return import_string(f"{module}.page")(filters)
