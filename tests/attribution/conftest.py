"""Clerk attribution tests: the orders test shop, a policy in force from a fixed day, and helpers that
move the clock (``time_machine``) so bindings and orders happen days apart."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from attribution import services as attribution
from orders import services as orders
from tests.inventory.conftest import receive
from tests.orders.conftest import shop  # noqa: F401  (the fixture)

TAIPEI = ZoneInfo("Asia/Taipei")
# the 2nd of next month at 11:00 in Taipei: after the shop's prices and members were made (at the real
# now), and early enough in a month that a test's first days and their lock-up fall in one month. The
# policy is in force from then, and each test moves forward from it.
_next_month = (datetime.now(TAIPEI).replace(day=1) + timedelta(days=32)).replace(day=2)
DAY0 = _next_month.replace(hour=11, minute=0, second=0, microsecond=0)
ADDRESS = {"name": "林美華", "phone": "0912345678", "address": "台北市信義區松高路 1 號"}

POLICY = {
    "name": "Standard",
    "validity_days": {"pos_sale": 30, "qr_registration": 90, "referral_link": 7, "line_chat": 30, "hq_manual": 180},
    "conflict": "latest",
    "default_rate": "0.05",
    "store_share": "0.4",
    "lockup_days": 7,
}


@pytest.fixture
def clock():
    """``clock(days, hours=0)`` moves the clock to DAY0 plus that long (and keeps it ticking)."""
    traveller = None

    def move(days: float, hours: float = 0):
        nonlocal traveller
        if traveller is not None:
            traveller.stop()
        traveller = time_machine.travel(DAY0 + timedelta(days=days, hours=hours), tick=True)
        traveller.start()

    yield move
    if traveller is not None:
        traveller.stop()


@pytest.fixture
def policy(clock, hq_admin):
    """``policy(**changes)``: the standard policy with changes, adopted from DAY0."""

    def make(**changes):
        clock(0)
        draft = attribution.policy_create(actor=hq_admin, **{**POLICY, **changes})
        return attribution.policy_adopt(actor=hq_admin, policy=draft)

    return make


def web_order(shop, member, *, lines=(("TEE-M", 1),), referral_code="", **extra):  # noqa: F811
    """A paid web order (shipped from the warehouse), attributed as the queue would after the commit."""
    order = orders.order_place(
        channel=shop.web,
        lines=list(lines),
        fulfilment="ship",
        member=member,
        shipping_address=ADDRESS,
        referral_code=referral_code,
        **extra,
    )
    orders.order_pay(order=order, tenders=[{"tender": "card", "token": "tok_visa"}])
    order.refresh_from_db()
    attribution.order_attribute(order=order)
    return order


def counter_sale(shop, clerk, store, member, *, lines=(("CAP-M", 1),)):  # noqa: F811
    """A paid counter sale by ``clerk`` at ``store`` (stock received there first)."""
    for sku, quantity in lines:
        variant = {"TEE-M": shop.tee, "JEANS-M": shop.jeans, "CAP-M": shop.cap}[sku]
        receive(store, variant, quantity)
    order = orders.order_place(
        channel=shop.pos, lines=list(lines), fulfilment="counter", member=member, store=store, clerk=clerk
    )
    orders.order_pay(order=order, tenders=[{"tender": "cash"}])
    order.refresh_from_db()
    attribution.order_attribute(order=order)
    return order


def return_one_in_store_b(shop, order, line, clerk, *, reason="too small"):  # noqa: F811
    """One unit of ``line`` brought back to store B and taken by ``clerk`` (refunded to the original
    tender, restocked there)."""
    return orders.return_create(
        order=order,
        lines=[{"line": line.pk, "quantity": 1, "disposition": "restock", "location": shop.store_b}],
        channel=shop.pos,
        store=shop.store_b,
        refund_to="original",
        reason=reason,
        actor=clerk,
    )


def credited(order) -> list[tuple]:
    """(clerk username or None, store code, attributed amount, commission) per credit, summed over lines."""
    from collections import defaultdict

    from attribution.models import AttributionLine

    totals = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for line in AttributionLine.objects.filter(order=order, kind="sale").select_related("clerk", "store"):
        key = (line.clerk.username if line.clerk else None, line.store.code)
        totals[key][0] += line.base
        totals[key][1] += line.commission
    return sorted((k[0] or "", k[1], v[0], v[1]) for k, v in totals.items())
