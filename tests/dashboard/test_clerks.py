"""The clerk attribution page against figures computed by hand, on orders attributed by the real
attribution services (the attribution tests' policy, clock and order helpers)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from attribution import services as attribution
from attribution import settlement as settlements
from attribution.models import AttributionLine
from members import services as member_services
from omo.dashboard import services as dashboard
from omo.dashboard.models import ClerkDay
from omo.dashboard.selectors import clerks
from orders import services as orders
from tests.attribution.conftest import ADDRESS, DAY0, clock, policy  # noqa: F401 (fixtures)
from tests.attribution.conftest import counter_sale as sold_by
from tests.attribution.conftest import web_order as bought_online
from tests.dashboard.conftest import period

FIRST, LAST = (DAY0 + timedelta(days=1)).date(), (DAY0 + timedelta(days=4)).date()  # compared with DAY0-3 .. DAY0


@pytest.fixture
def credited(shop, policy, clock, clerk_a, clerk_b):  # noqa: F811
    """The standard policy (5%, 40% of it to the store, the latest binding wins):

    DAY0 (the comparison period): A sells a cap (300) to the member at the counter.
    DAY0+1: A sells the member a cap (300): pos_sale, no binding; it binds the member to A.
    DAY0+2: the member buys 2 tees online (1,000): latest binding, a pos_sale binding, A;
            B sells jeans (1,200) at the counter to a guest: pos_sale.
    DAY0+3: a new member uses B's referral code online on a tee (500): referral_code, B;
            a member signed up with A's QR code in store A buys jeans online (1,200): latest binding, QR, A.
    DAY0+4: one of the 2 tees comes back (500): taken back from A (commission 25: store 10, personal 15)."""
    policy()
    clock(0, hours=2)
    sold_by(shop, clerk_a, shop.store_a, shop.member)
    clock(1)
    sold_by(shop, clerk_a, shop.store_a, shop.member)
    clock(2)
    tees = bought_online(shop, shop.member, lines=[("TEE-M", 2)])
    orders.order_ship(order=tees, location=shop.warehouse)
    sold_by(shop, clerk_b, shop.store_b, None, lines=[("JEANS-M", 1)])
    clock(3)
    stranger = member_services.member_register(phone="0922000222").member
    bought_online(shop, stranger, referral_code=clerk_b.staff_profile.referral_code)
    signed_up = member_services.member_register(phone="0922000333", store=shop.store_a, clerk=clerk_a).member
    bought_online(shop, signed_up, lines=[("JEANS-M", 1)])
    clock(4)
    line = tees.lines.get()
    orders.return_create(
        order=tees, lines=[{"line": line.pk, "quantity": 1, "location": shop.warehouse}], channel=shop.web
    )
    assert AttributionLine.objects.filter(kind="clawback").count() == 1  # taken back by the return itself
    return shop


def test_the_totals_and_the_comparison_period(credited):
    page = clerks.page(period(FIRST, LAST, compare="previous"))
    kpis = {str(k.label): (k.value, k.compare) for k in page.kpis}
    assert kpis == {
        # 300 + 1,000 + 1,200 + 500 + 1,200 = 4,200 credited, 500 taken back
        "Attributed sales": (Decimal("3700.00"), Decimal("300.00")),
        # 15 + 50 + 60 + 25 + 60 = 210, less 25
        "Commission": (Decimal("185.00"), Decimal("15.00")),
        # 60% of each: 9 + 30 + 36 + 15 + 36 = 126, less 15
        "Of which personal": (Decimal("111.00"), Decimal("9.00")),
        "Attributed orders": (5, 1),
        "Taken back by returns and cancellations": (Decimal("500.00"), Decimal("0.00")),
        "Clerks credited": (2, 1),
    }


def test_by_store_by_clerk_and_by_binding_source(credited, clerk_a, clerk_b):
    shop = credited
    figures = {f.key: f for f in clerks.page(period(FIRST, LAST, compare="none")).figures}

    def money(r):
        return (r["orders"], r["sales"], r["taken_back"], r["net"], r["commission"], r["store_amount"],
                r["personal_amount"], r["share"])  # fmt: skip

    a, b = f"{shop.store_a.code} {shop.store_a.name}", f"{shop.store_b.code} {shop.store_b.name}"
    by_store = {r["name"]: money(r) for r in figures["by_store"].rows}
    assert by_store == {
        a: (3, Decimal("2500.00"), Decimal("500.00"), Decimal("2000.00"), Decimal("100.00"), Decimal("40.00"),
            Decimal("60.00"), Decimal("0.5405")),
        b: (2, Decimal("1700.00"), Decimal("0.00"), Decimal("1700.00"), Decimal("85.00"), Decimal("34.00"),
            Decimal("51.00"), Decimal("0.4595")),
    }  # fmt: skip
    assert money(figures["by_store"].total)[:5] == (
        5,
        Decimal("4200.00"),
        Decimal("500.00"),
        Decimal("3700.00"),
        Decimal("185.00"),
    )

    by_clerk = [(r["clerk"], r["store"], r["net"], r["commission"]) for r in figures["by_clerk"].rows]
    assert by_clerk == [
        (clerk_a.staff_profile.display_name, a, Decimal("2000.00"), Decimal("100.00")),
        (clerk_b.staff_profile.display_name, b, Decimal("1700.00"), Decimal("85.00")),
    ]

    by_source = [
        (r["source_label"], r["rule_label"], r["orders"], r["sales"], r["taken_back"], r["net"], r["commission"])
        for r in figures["by_source"].rows
    ]
    assert by_source == [
        # two counter sales: 300 (A) + 1,200 (B)
        ("No binding", "Sold at the counter by the clerk", 2, Decimal("1500.00"), Decimal("0.00"),
         Decimal("1500.00"), Decimal("75.00")),
        ("Registered in store with the clerk's QR code", "The latest binding wins", 1, Decimal("1200.00"),
         Decimal("0.00"), Decimal("1200.00"), Decimal("60.00")),
        # the return is counted under the rule of the line it takes back
        ("No binding", "The clerk's referral code on the order", 1, Decimal("500.00"), Decimal("0.00"),
         Decimal("500.00"), Decimal("25.00")),
        ("POS sale or service by the clerk", "The latest binding wins", 1, Decimal("1000.00"), Decimal("500.00"),
         Decimal("500.00"), Decimal("25.00")),
    ]  # fmt: skip


@pytest.fixture
def settled(credited, clock, hq_admin, clerk_a):  # noqa: F811
    """The month of DAY0 built, adjusted (+15 for A), approved and paid on DAY0+45."""
    shop = credited
    clock(45)
    month = DAY0.date().replace(day=1)
    period_ = settlements.settlement_build(actor=hq_admin, month=month)
    settlements.settlement_adjust(
        actor=hq_admin, period=period_, store=shop.store_a, clerk=clerk_a, amount="15", reason="Window display prize"
    )
    period_.refresh_from_db()
    settlements.settlement_approve(actor=hq_admin, period=period_, fingerprint=period_.fingerprint)
    settlements.settlement_mark_paid(actor=hq_admin, period=period_)
    return shop


def settlement_rows(filters):
    figure = next(f for f in clerks.page(filters).figures if f.key == "settlement")
    return figure.rows


def test_the_settlement_of_the_last_12_months(settled):
    rows = settlement_rows(period(FIRST, LAST, compare="none"))
    assert [r["month"] for r in rows][::11] == [
        (DAY0.date().replace(day=1) - timedelta(days=330)).strftime("%Y-%m"),
        DAY0.strftime("%Y-%m"),
    ]
    assert len(rows) == 12 and {r["status"] for r in rows[:11]} == {"Not built"}
    last = rows[-1]
    paid_on = (DAY0 + timedelta(days=45)).date()
    # A: 300 (DAY0) + 300 + 1,000 + 1,200 - 500 = 2,300, commission 115 + 15; B: 1,700, commission 85
    assert (last["status"], last["clerks"], last["base"], last["commission"], last["adjustments"], last["payable"]) == (
        "Paid",
        2,
        Decimal("4000.00"),
        Decimal("200.00"),
        Decimal("15.00"),
        Decimal("215"),
    )
    assert (last["built"], last["approved"], last["paid"]) == (paid_on, paid_on, paid_on)


def test_a_store_filter_sees_its_own_credits_and_settlement_only(settled):
    shop = settled
    only_b = period(FIRST, LAST, compare="none", store_ids=frozenset({shop.store_b.pk}))
    got = clerks.totals(only_b)
    assert (got["orders"], got["net"], got["commission"], got["clerks"]) == (2, Decimal("1700.00"), Decimal("85.00"), 1)
    figures = {f.key: f for f in clerks.page(only_b).figures}
    assert [r["name"] for r in figures["by_store"].rows] == [f"{shop.store_b.code} {shop.store_b.name}"]
    assert [r["store"] for r in figures["by_clerk"].rows] == [f"{shop.store_b.code} {shop.store_b.name}"]
    last = figures["settlement"].rows[-1]
    assert (last["clerks"], last["base"], last["commission"], last["adjustments"], last["payable"]) == (
        1,
        Decimal("1700.00"),
        Decimal("85.00"),
        Decimal("0.00"),
        Decimal("85"),
    )


def test_the_page_opens_for_hq(client, credited, hq_admin):
    client.force_login(hq_admin)
    response = client.get("/dashboard/clerks/", {"from": FIRST.isoformat(), "to": LAST.isoformat()})
    assert response.status_code == 200
    assert response.context["page"].kpis[0].value == Decimal("3700.00")
    assert b'data-chart="by_clerk-chart"' in response.content


# --- the daily rollup (ClerkDay) gives the same page as the lines ----------------------------------------


def _seen(filters) -> list:
    """Everything the clerk page shows for ``filters`` but the settlement (which reads settlement lines)."""
    page = clerks.page(filters)
    return [(k.value, k.compare) for k in page.kpis] + [
        (f.key, f.rows, f.total) for f in page.figures if f.key != "settlement"
    ]


def _views(shop):
    both = frozenset({shop.store_a.pk, shop.store_b.pk})
    return [
        period(FIRST, LAST, compare="previous"),
        period(FIRST, LAST, compare="previous", store_ids=frozenset({shop.store_a.pk})),
        period(FIRST, LAST, compare="previous", store_ids=frozenset({shop.store_b.pk})),
        period(FIRST, LAST, compare="previous", store_ids=both),
        period(FIRST, LAST, compare="previous", channel_ids=frozenset({shop.web.pk})),
    ]


def test_the_page_is_the_same_rolled_up_and_live(credited, clock):  # noqa: F811
    shop = credited
    live = [_seen(f) for f in _views(shop)]
    assert live[0][0] == (Decimal("3700.00"), Decimal("300.00"))
    dashboard.rollup_refresh(first=FIRST - timedelta(days=3), last=LAST)  # up to yesterday: DAY0+4 stays live
    assert ClerkDay.objects.filter(day=LAST).count() == 0 and ClerkDay.objects.filter(day=FIRST).exists()
    assert [_seen(f) for f in _views(shop)] == live
    clock(10)
    dashboard.rollup_refresh(first=FIRST - timedelta(days=3), last=LAST)  # every day rolled up
    assert ClerkDay.objects.filter(day=LAST).exists()
    assert [_seen(f) for f in _views(shop)] == live


def test_an_order_split_between_two_stores_counts_once_above_them(shop, policy, clock, clerk_a, clerk_b):  # noqa: F811
    """Each level keeps its own distinct orders: the split order is one order for both stores together,
    one for each store, and one for each clerk; the rollup, and a manager of both stores, agree."""
    policy(conflict="split")
    clock(1)
    sold_by(shop, clerk_a, shop.store_a, shop.member)
    sold_by(shop, clerk_b, shop.store_b, shop.member)
    clock(2)
    bought_online(shop, shop.member)  # 500 split: 250 to A at store A, 250 to B at store B
    clock(5)
    day = (DAY0 + timedelta(days=2)).date()
    both = frozenset({shop.store_a.pk, shop.store_b.pk})
    views = [period(day, day, compare="none"), period(day, day, compare="none", store_ids=both)]
    live = [clerks.grouped(f) for f in views]
    for total, by_store, by_clerk, by_source in live:
        assert (total["orders"], total["net"], total["clerks"]) == (1, Decimal("500.00"), 2)
        assert sorted((r["orders"], r["net"]) for r in by_store) == [(1, Decimal("250.00"))] * 2
        assert sorted((r["orders"], r["net"]) for r in by_clerk) == [(1, Decimal("250.00"))] * 2
        assert [(r["rule"], r["orders"], r["net"]) for r in by_source] == [("split", 1, Decimal("500.00"))]
    dashboard.rollup_refresh(first=day, last=day)
    assert [clerks.grouped(f) for f in views] == live


def test_an_order_attributed_late_is_rolled_up_again_by_the_nightly_job(credited, clock):  # noqa: F811
    """Attribution lines are dated the day the order was paid; an order attributed days later (the
    queue was down) changes a day already rolled up, and the next nightly run redoes that day."""
    shop = credited
    clock(5)
    dashboard.rollup_catch_up()
    before = _seen(period(FIRST, LAST, compare="none"))
    clock(6)
    late = orders.order_place(
        channel=shop.web, lines=[("TEE-M", 1)], fulfilment="ship", member=shop.member, shipping_address=ADDRESS
    )
    orders.order_pay(order=late, tenders=[{"tender": "card", "token": "tok_visa"}])
    clock(20)  # paid on DAY0+6, rolled up that night and the next ...
    dashboard.rollup_catch_up()
    attribution.order_attribute(order=late)  # ... and attributed only now
    paid = period((DAY0 + timedelta(days=6)).date(), (DAY0 + timedelta(days=6)).date(), compare="none")
    assert AttributionLine.objects.filter(order=late).count() == 1
    assert _seen(paid)[0][0] == Decimal("0.00")  # the day was rolled up before the line was written
    dashboard.rollup_catch_up()
    assert _seen(paid)[0][0] == Decimal("500.00")  # the tee, credited to A by the binding of the counter sale
    assert _seen(period(FIRST, LAST, compare="none")) == before


def test_the_page_takes_the_same_few_queries_whatever_the_data(credited, clock, django_assert_max_num_queries):  # noqa: F811
    # for the period and the comparison: the rolled-up days, the rollup, the days not rolled up; store and
    # clerk names; the settlement periods and their totals
    dashboard.rollup_refresh(first=FIRST - timedelta(days=3), last=LAST)
    with django_assert_max_num_queries(10):
        clerks.page(period(FIRST, LAST, compare="previous"))
