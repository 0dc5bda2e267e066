"""Reads of the POS app."""

from django.db.models import QuerySet

from omo.org.access import scope_to_user
from pos.models import Register, Shift


def register_list(*, user) -> QuerySet[Register]:
    """The registers ``user`` may see: their own store's for store roles, all for HQ."""
    return scope_to_user(Register.objects.select_related("store"), user).order_by("store__code", "code")


def shift_list(*, user) -> QuerySet[Shift]:
    """The shifts ``user`` may see: their own store's for store roles, all for HQ."""
    return scope_to_user(Shift.objects.select_related("register", "store", "opened_by"), user).order_by("-opened_at")


def store_sales(*, store, day, query: str = "") -> QuerySet:
    """The store's counter sales paid on ``day`` (newest first), or those whose number contains
    ``query`` on any day, for a receipt reprint; with the clerk's name."""
    from orders.models import Order

    qs = Order.objects.filter(store=store, fulfilment=Order.Fulfilment.COUNTER, paid_at__isnull=False)
    qs = qs.filter(number__icontains=query.strip()) if query.strip() else qs.filter(paid_at__date=day)
    return qs.select_related("clerk__staff_profile").order_by("-paid_at")
