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
