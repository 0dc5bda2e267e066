"""Monthly settlement: draft -> adjust -> approve (locked) -> paid, identical re-runs, claw-back of a
return after approval into the next open month, the payroll CSV, and the what-if of a draft policy."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, InternalError, transaction

from attribution import services as attribution
from attribution import settlement
from attribution.models import AttributionLine, SettlementLine, SettlementPeriod
from omo.core.errors import ConflictError, PermissionDeniedError
from orders import services as orders
from orders.models import Order
from tests.attribution.conftest import DAY0, counter_sale, return_one_in_store_b, web_order


def month_of(days: int):
    return (DAY0 + timedelta(days=days)).date().replace(day=1)


def totals(period) -> list[tuple]:
    return sorted(
        (r.store.code, r.clerk.username if r.clerk else "", r.lines, r.base, r.commission, r.adjustments, r.payable)
        for r in SettlementLine.objects.filter(period=period).select_related("store", "clerk")
    )


@pytest.fixture
def sales(shop, policy, clock, clerk_a, clerk_b):
    """Month 1: A sells NT$300 at the counter and is credited NT$1,000 online; B sells NT$1,200 at the
    counter. (5%, 40% to the store, 7 days of lock-up.)"""
    policy()
    clock(1)
    counter_sale(shop, clerk_a, shop.store_a, shop.member)
    clock(2)
    online = web_order(shop, shop.member, lines=[("TEE-M", 2)])
    orders.order_ship(order=online, location=shop.warehouse, tracking="T1")
    counter_sale(shop, clerk_b, shop.store_b, None, lines=[("JEANS-M", 1)])
    return online


def test_a_month_is_built_adjusted_approved_locked_and_paid(shop, sales, clock, clerk_a, hq_admin):
    clock(45)  # the next month has begun and the lock-up has passed
    first = month_of(2)
    period = settlement.settlement_build(actor=hq_admin, month=first)
    assert totals(period) == [
        ("S-A", "a.clerk", 2, Decimal("1300.00"), Decimal("65.00"), Decimal("0.00"), Decimal("65")),
        ("S-B", "b.clerk", 1, Decimal("1200.00"), Decimal("60.00"), Decimal("0.00"), Decimal("60")),
    ]
    again = settlement.settlement_build(actor=hq_admin, month=first)
    assert again.fingerprint == period.fingerprint and totals(again) == totals(period)  # identical re-run
    assert again.built_at == period.built_at  # nothing it is built from changed: not even rebuilt
    from attribution.models import SettlementPeriod as Period

    Period.objects.filter(pk=period.pk).update(inputs="")  # forced: built again, to the same totals
    forced = settlement.settlement_build(actor=hq_admin, month=first)
    assert (forced.built_at > period.built_at, forced.fingerprint, totals(forced)) == (
        True,
        period.fingerprint,
        totals(period),
    )
    period = forced

    from attribution.models import SettlementAdjustment
    from omo.core.errors import ApplicationError

    for amount, reason, code in (
        ("15", " ", "reason_required"),
        ("0", "x", "invalid_amount"),
        ("abc", "x", "invalid_amount"),
    ):
        with pytest.raises(ApplicationError) as refused:
            settlement.settlement_adjust(
                actor=hq_admin, period=period, store=shop.store_a, clerk=clerk_a, amount=amount, reason=reason
            )
        assert refused.value.code == code
    assert not SettlementAdjustment.objects.exists() and totals(period)[0][-2:] == (Decimal("0.00"), Decimal("65"))
    settlement.settlement_adjust(
        actor=hq_admin, period=period, store=shop.store_a, clerk=clerk_a, amount="15", reason="Mystery shopper bonus"
    )
    period.refresh_from_db()
    assert totals(period)[0][-2:] == (Decimal("15.00"), Decimal("80"))
    with pytest.raises(ConflictError) as stale:
        settlement.settlement_approve(actor=hq_admin, period=period, fingerprint=again.fingerprint)
    assert stale.value.code == "draft_changed"
    assert not AttributionLine.objects.exclude(period=None).exists()  # nothing was claimed

    settlement.settlement_approve(actor=hq_admin, period=period, fingerprint=period.fingerprint)
    period.refresh_from_db()
    assert period.status == "approved"
    assert AttributionLine.objects.filter(period=period).count() == 3
    for refused in (
        lambda: settlement.settlement_build(actor=hq_admin, month=first),
        lambda: settlement.settlement_adjust(
            actor=hq_admin, period=period, store=shop.store_a, clerk=clerk_a, amount="1", reason="late"
        ),
    ):
        with pytest.raises(ConflictError) as locked:
            refused()
        assert locked.value.code == "period_locked"
    assert totals(period)[0][-1] == Decimal("80")

    csv = settlement.settlement_csv(period)
    assert csv.splitlines()[1].startswith(f"{first:%Y-%m},approved,S-A,{clerk_a.staff_profile.employee_code},")
    assert csv.splitlines()[1].endswith(",2,1300.00,65.00,26.00,39.00,15.00,80.00")
    settlement.settlement_mark_paid(actor=hq_admin, period=period)
    assert SettlementPeriod.objects.get(pk=period.pk).status == "paid"


def test_a_return_after_approval_is_clawed_back_in_the_next_open_month(shop, sales, clock, clerk_b, hq_admin):
    clock(45)
    first = settlement.settlement_build(actor=hq_admin, month=month_of(2))
    settlement.settlement_approve(actor=hq_admin, period=first, fingerprint=first.fingerprint)

    clock(46)  # another clerk takes one of the two tees back in store B
    line = sales.lines.get()
    ret = return_one_in_store_b(shop, sales, line, clerk_b, reason="changed mind")
    attribution.return_claw_back(ret=ret)
    clock(75)
    second = settlement.settlement_build(actor=hq_admin, month=month_of(46))
    assert totals(second) == [
        ("S-A", "a.clerk", 1, Decimal("-500.00"), Decimal("-25.00"), Decimal("0.00"), Decimal("-25"))
    ]
    assert AttributionLine.objects.filter(period=first).count() == 3  # the settled month is as it was
    assert [r[-1] for r in totals(first)] == [Decimal("65"), Decimal("60")]


@pytest.mark.postgres
def test_a_settled_line_cannot_be_changed_even_by_hand(shop, sales, clock, hq_admin, require_postgres):
    clock(45)
    period = settlement.settlement_build(actor=hq_admin, month=month_of(2))
    settlement.settlement_approve(actor=hq_admin, period=period, fingerprint=period.fingerprint)
    line = AttributionLine.objects.filter(period=period).first()
    for tamper in (
        lambda: AttributionLine.objects.filter(pk=line.pk).update(commission=Decimal("999")),
        lambda: AttributionLine.objects.filter(pk=line.pk).update(period=None),
        lambda: AttributionLine.objects.filter(pk=line.pk).delete(),
    ):
        with pytest.raises((InternalError, IntegrityError)), transaction.atomic():
            tamper()
    assert AttributionLine.objects.get(pk=line.pk).commission == line.commission


def test_an_attributed_order_and_its_lines_cannot_be_deleted_even_by_hand(shop, sales, require_postgres):
    """The lines and the order's claim have no foreign key to the order (a month writes a million of
    them); a trigger keeps the reference whole instead."""
    from django.db import connection

    line = AttributionLine.objects.first()
    for statement in ("DELETE FROM orders_orderline WHERE order_id = %s", "DELETE FROM orders_order WHERE id = %s"):
        with (
            pytest.raises(InternalError, match="is attributed: it is never deleted"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [line.order_id])
    assert AttributionLine.objects.filter(order_id=line.order_id).exists()
    assert Order.objects.filter(pk=line.order_id, lines__isnull=False).exists()


def test_months_are_approved_in_order_and_only_by_finance(shop, sales, clock, clerk_a, hq_admin):
    clock(75)
    first = settlement.settlement_build(actor=hq_admin, month=month_of(2))
    second = settlement.settlement_build(actor=hq_admin, month=month_of(45))
    with pytest.raises(ConflictError) as order:
        settlement.settlement_approve(actor=hq_admin, period=second, fingerprint=second.fingerprint)
    assert order.value.code == "earlier_period_open"
    with pytest.raises(PermissionDeniedError):
        settlement.settlement_approve(actor=clerk_a, period=first, fingerprint=first.fingerprint)
    assert SettlementPeriod.objects.filter(status="draft").count() == 2


def test_what_if_a_draft_policy_on_a_past_month(shop, sales, clock, hq_admin):
    current = sales.attribution.policy
    draft = attribution.policy_create(actor=hq_admin, based_on=current, default_rate="0.08", store_share="0.5")
    clock(45)
    rows = settlement.simulate(month=month_of(2), policy=draft)
    assert [(r["store_id"], r["actual"], r["simulated"], r["difference"]) for r in rows] == [
        (shop.store_a.pk, Decimal("65.00"), Decimal("104.00"), Decimal("39.00")),
        (shop.store_b.pk, Decimal("60.00"), Decimal("96.00"), Decimal("36.00")),
    ]
    assert draft.is_draft  # trying it changed nothing
    assert not SettlementPeriod.objects.exists()
