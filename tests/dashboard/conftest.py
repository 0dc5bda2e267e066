"""The orders tests' small shop, plus helpers that put sales on known days, for checking the dashboard's
figures against values computed by hand."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from members.models import Purchase
from omo.dashboard.filters import Filters
from orders import services
from orders.models import Order, Refund, Return
from tests.orders.conftest import fake_gateway, shop  # noqa: F401 (fixtures)

ADDRESS = {"name": "林美華", "phone": "0912345678", "address": "台北市信義區松高路 1 號"}
TODAY = date(2026, 11, 30)


def at(day: date, hour: int = 12) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour)))


def move_order(order: Order, day: date, hour: int = 12) -> Order:
    """Puts a paid order (and its status rows) on ``day``: the dashboard counts sales by the paid day."""
    when = at(day, hour)
    Order.objects.filter(pk=order.pk).update(placed_at=when, paid_at=when)
    Purchase.objects.filter(reference=order.number).update(paid_at=when)
    order.refresh_from_db()
    return order


def move_return(ret: Return, day: date, hour: int = 15) -> Return:
    when = at(day, hour)
    Return.objects.filter(pk=ret.pk).update(created_at=when)
    Refund.objects.filter(ret=ret).update(created_at=when)
    ret.refresh_from_db()
    return ret


def web_order(the_shop, lines, *, day: date, member=None, fulfilment="ship", store=None, **kwargs) -> Order:
    extra = {"shipping_address": ADDRESS} if fulfilment == "ship" else {}
    order = services.order_place(
        channel=the_shop.web, lines=lines, fulfilment=fulfilment, member=member, store=store, **extra, **kwargs
    )
    services.order_pay(order=order, tenders=[{"tender": "card"}])
    return move_order(order, day)


def counter_sale(the_shop, lines, *, day: date, store=None, clerk=None, member=None, **kwargs) -> Order:
    store = store or the_shop.store_a
    order = services.order_place(
        channel=the_shop.pos, lines=lines, fulfilment="counter", store=store, clerk=clerk, actor=clerk, member=member,
        **kwargs,
    )  # fmt: skip
    services.order_pay(order=order, tenders=[{"tender": "cash"}], actor=clerk)
    return move_order(order, day)


def period(first: date, last: date, **kwargs) -> Filters:
    return Filters(start=first, end=last, today=kwargs.pop("today", TODAY), **kwargs)


@pytest.fixture
def frozen_today(monkeypatch):
    """``timezone.localdate()`` is TODAY (the rollup never rolls up today or later)."""
    real = timezone.localdate

    def localdate(value=None, timezone=None):
        return real(value, timezone) if value is not None else TODAY

    monkeypatch.setattr("django.utils.timezone.localdate", localdate)
    return TODAY


__all__ = ["Decimal", "timedelta"]
