"""The cross-channel flows page against figures computed by hand: online pickups, ship-from-store,
endless aisle, online orders returned in stores, and coupons moving between online and the stores."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from members import coupons
from members import services as member_services
from members.models import CouponRedemption
from omo.dashboard.selectors import flows
from orders import services as orders
from orders.models import Fulfilment
from tests.dashboard.conftest import ADDRESS, at, counter_sale, move_order, move_return, period, web_order
from tests.orders.conftest import shared_coupon

D0, D1, D2 = date(2026, 11, 19), date(2026, 11, 20), date(2026, 11, 21)


def shipped_on(order, day: date):
    Fulfilment.objects.filter(order=order, kind="shipment").update(at=at(day))


def pos_order(shop, sku: str, *, store, fulfilment: str, source, day: date, clerk=None):
    """An endless-aisle order: the clerk at ``store`` orders from ``source`` for the customer."""
    order = orders.order_place(
        channel=shop.pos,
        lines=[(sku, 1)],
        fulfilment=fulfilment,
        store=store,
        clerk=clerk,
        source=source,
        shipping_address=ADDRESS if fulfilment == "ship" else None,
    )
    orders.order_pay(order=order, tenders=[{"tender": "cash"}])
    return move_order(order, day)


def return_one(order, *, channel, store=None, location=None, day: date = D2):
    line = order.lines.get()
    ret = orders.return_create(
        order=order,
        lines=[{"line": line.pk, "quantity": 1, "location": location or store}],
        channel=channel,
        store=store,
    )
    return move_return(ret, day)


@pytest.fixture
def flows_week(shop, clerk_a, clerk_b):
    """D1..D2 (prices: tee 500 web / 520 POS, jeans 1,200, cap 300; store A holds 5 of each, store B
    nothing, so B's pickups wait for a transfer):

    pickups (web): A tee 500 collected (then returned at B), A caps 600 waiting; B jeans 1,200 cancelled,
      B cap 300 - coupon 50 = 250 waiting (transfer);                 D0: A cap 300 waiting (comparison)
    ship from store A: 2 tees in two parcels on D2 (then one returned at A, one exchanged at A); a cap
      paid but not shipped yet; jeans shipped from the warehouse (not a store: left out)
    endless aisle: B ships jeans 1,200 from the warehouse; A orders a tee (POS 520) for pickup
    coupons (redeemed D1): ONLINE50 collected online -> A's counter (online -> store) and -> a web pickup
      at B (online -> online); STORE30 collected at B -> web order (store -> online); TYPED20 typed in on
      a web order (none -> online) and on another web order returned in full (given back: left out)."""
    member2 = member_services.member_register(phone="0922000111", name="陳小明").member
    shared_coupon("ONLINE50", 50)
    shared_coupon("STORE30", 30)
    shared_coupon("TYPED20", 20)
    coupons.coupon_collect(member=shop.member, code="ONLINE50", channel=shop.web)
    coupons.coupon_collect(member=member2, code="ONLINE50", channel=shop.web)
    coupons.coupon_collect(member=shop.member, code="STORE30", channel=shop.pos, store=shop.store_b)

    # online orders picked up in stores
    collected = web_order(shop, [("TEE-M", 1)], day=D1, fulfilment="pickup", store=shop.store_a)
    orders.order_pickup(order=collected, actor=clerk_a)
    web_order(shop, [("CAP-M", 2)], day=D1, fulfilment="pickup", store=shop.store_a)
    cancelled = web_order(shop, [("JEANS-M", 1)], day=D2, fulfilment="pickup", store=shop.store_b)
    orders.order_cancel(order=cancelled, reason="changed mind")
    web_order(
        shop, [("CAP-M", 1)], day=D2, fulfilment="pickup", store=shop.store_b, member=member2, coupon_code="ONLINE50"
    )
    web_order(shop, [("CAP-M", 1)], day=D0, fulfilment="pickup", store=shop.store_a)

    # shipped from a store
    from_a = web_order(shop, [("TEE-M", 2)], day=D1, source=shop.store_a)
    line = from_a.lines.get()
    orders.order_ship(order=from_a, location=shop.store_a, quantities={line.pk: 1}, tracking="P1")
    orders.order_ship(order=from_a, location=shop.store_a, quantities={line.pk: 1}, tracking="P2")
    shipped_on(from_a, D2)
    web_order(shop, [("CAP-M", 1)], day=D2, source=shop.store_a)  # waits at A
    from_warehouse = web_order(shop, [("JEANS-M", 1)], day=D1, member=shop.member, coupon_code="TYPED20")
    orders.order_ship(order=from_warehouse, location=shop.warehouse)
    shipped_on(from_warehouse, D1)

    # endless aisle
    pos_order(shop, "JEANS-M", store=shop.store_b, fulfilment="ship", source=shop.warehouse, day=D1, clerk=clerk_b)
    pos_order(shop, "TEE-M", store=shop.store_a, fulfilment="pickup", source=shop.warehouse, day=D2, clerk=clerk_a)
    counter_sale(shop, [("JEANS-M", 1)], day=D1, member=shop.member, coupon_code="ONLINE50")  # at A, not a flow

    # returns
    return_one(collected, channel=shop.pos, store=shop.store_b)
    return_one(from_a, channel=shop.pos, store=shop.store_a)
    ret, _new = orders.order_exchange(
        order=from_a,
        return_lines=[{"line": line.pk, "quantity": 1, "location": shop.store_a}],
        new_lines=[("CAP-M", 1)],
        store=shop.store_a,
        actor=clerk_a,
    )
    move_return(ret, D2)
    return_one(from_warehouse, channel=shop.web, location=shop.warehouse)  # online, not in a store

    # the other coupons
    web_order(shop, [("TEE-M", 1)], day=D1, member=shop.member, coupon_code="STORE30")
    web_order(shop, [("CAP-M", 1)], day=D1, member=member2, coupon_code="TYPED20")
    CouponRedemption.objects.update(redeemed_at=at(D1))
    return shop


def name(store) -> str:
    return f"{store.code} {store.name}"


def figures_of(filters):
    built = flows.page(filters)
    return built, {f.key: f for f in built.figures}


def test_online_pickups_ship_from_store_and_endless_aisle_by_store(flows_week):
    shop = flows_week
    _page, figures = figures_of(period(D1, D2, compare="none"))

    pickup = {r["name"]: (r["orders"], r["sales"], r["collected"], r["waiting"], r["cancelled"], r["rate"])
              for r in figures["pickup"].rows}  # fmt: skip
    assert pickup == {
        # the collected tee was returned later: still collected
        name(shop.store_a): (2, Decimal("1100.00"), 1, 1, 0, Decimal("0.5000")),
        # jeans 1,200 cancelled; cap 300 - 50 waiting for its transfer
        name(shop.store_b): (2, Decimal("1450.00"), 0, 1, 1, Decimal("0.0000")),
    }
    total = figures["pickup"].total
    assert (total["orders"], total["sales"], total["collected"], total["rate"]) == (
        4,
        Decimal("2550.00"),
        1,
        Decimal("0.2500"),
    )

    ship = [(r["name"], r["orders"], r["shipments"], r["units"], r["open_orders"], r["open_units"])
            for r in figures["ship_from_store"].rows]  # fmt: skip
    assert ship == [(name(shop.store_a), 1, 2, 2, 1, 1)]  # the warehouse's parcel is left out

    endless = {
        r["name"]: (r["orders"], r["sales"], r["shipped"], r["picked_up"]) for r in figures["endless_aisle"].rows
    }
    assert endless == {
        name(shop.store_b): (1, Decimal("1200.00"), 1, 0),
        name(shop.store_a): (1, Decimal("520.00"), 0, 1),
    }
    assert (figures["endless_aisle"].total["orders"], figures["endless_aisle"].total["sales"]) == (
        2,
        Decimal("1720.00"),
    )


def test_online_returns_in_stores_and_coupon_flows(flows_week):
    shop = flows_week
    _page, figures = figures_of(period(D1, D2, compare="none"))

    returns = {r["name"]: (r["returns"], r["amount"], r["exchanges"]) for r in figures["online_returns_in_store"].rows}
    # A: one tee refunded, one exchanged (500 each); B: the tee picked up at A; the web return is left out
    assert returns == {name(shop.store_a): (2, Decimal("1000.00"), 1), name(shop.store_b): (1, Decimal("500.00"), 0)}
    total = figures["online_returns_in_store"].total
    assert (total["returns"], total["amount"], total["exchanges"]) == (3, Decimal("1500.00"), 1)

    matrix = [(r["online"], r["store"], r["total"], r["discount"]) for r in figures["coupon_flows"].rows]
    assert matrix == [
        (1, 1, 2, Decimal("100.00")),  # collected online: a web pickup at B (online) and A's counter (store)
        (1, 0, 1, Decimal("30.00")),  # collected at B, used on the web
        (1, 0, 1, Decimal("20.00")),  # typed in (the other TYPED20 was given back with its return)
    ]
    total = figures["coupon_flows"].total
    assert (total["online"], total["store"], total["total"], total["discount"]) == (3, 1, 4, Decimal("150.00"))

    by_store = {r["name"]: (r["in"], r["in_discount"], r["out"]) for r in figures["coupon_flows_by_store"].rows}
    assert by_store == {name(shop.store_a): (1, Decimal("50.00"), 0), name(shop.store_b): (0, Decimal("0.00"), 1)}


def test_the_key_figures_against_the_previous_period(flows_week):
    built = flows.page(period(D1, D2, compare="previous"))  # compared with D-1 .. D0
    kpis = {str(k.label): (k.value, k.compare) for k in built.kpis}
    assert kpis == {
        "Online orders picked up in stores": (4, 1),
        "Their sales": (Decimal("2550.00"), Decimal("300.00")),
        "Collected": (Decimal("0.2500"), Decimal("0.0000")),
        "Units shipped from stores": (2, 0),
        "Endless-aisle sales": (Decimal("1720.00"), Decimal("0")),
        "Online orders returned in stores": (3, 0),
        "Refunded in stores for online orders": (Decimal("1500.00"), Decimal("0")),
        "Online coupons redeemed in stores": (1, 0),
        "Store coupons redeemed online": (1, 0),
    }


def test_a_store_filter_sees_its_own_flows_only(flows_week):
    shop = flows_week
    _page, figures = figures_of(period(D1, D2, compare="none", store_ids=frozenset({shop.store_a.pk})))

    seen = {key: [r["name"] for r in figures[key].rows] for key in (
        "pickup", "ship_from_store", "endless_aisle", "online_returns_in_store", "coupon_flows_by_store")}  # fmt: skip
    assert seen == {key: [name(shop.store_a)] for key in seen}
    assert (figures["pickup"].total["orders"], figures["pickup"].total["sales"]) == (2, Decimal("1100.00"))
    assert figures["endless_aisle"].total["sales"] == Decimal("520.00")
    assert figures["online_returns_in_store"].total["amount"] == Decimal("1000.00")
    # only A's counter redemption touches A (redeemed there); B's and the web's are not A's business
    assert figures["coupon_flows"].total["total"] == 1

    web_only = flows.totals(period(D1, D2, channel_ids=frozenset({shop.web.pk})))
    assert (web_only["endless_orders"], web_only["pickup_orders"], web_only["returns"]) == (0, 4, 3)


def test_the_page_opens_for_hq(client, flows_week, hq_admin):
    client.force_login(hq_admin)
    response = client.get("/dashboard/flows/", {"from": "2026-11-20", "to": "2026-11-21"})
    assert response.status_code == 200
    assert response.context["page"].kpis[0].value == 4
    assert b'data-chart="pickup-chart"' in response.content


def test_the_page_takes_the_same_few_queries_whatever_the_data(flows_week, django_assert_max_num_queries):
    # for the period and the comparison: pickups and endless aisle (one pass), ship-from-store, returns,
    # coupons; goods waiting to ship now; the store names
    with django_assert_max_num_queries(10):
        flows.page(period(D1, D2, compare="previous"))
