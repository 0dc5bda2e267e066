"""The inventory health page against figures computed by hand, on stock moved through the real services
(goods receipts, transfers, orders and counter sales, stock_sell, lots)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine

from inventory import services as stock
from inventory.models import SkuCost, Transfer
from inventory.services import StockLine
from omo.dashboard import services as dashboard
from omo.dashboard.models import CoverSold
from omo.dashboard.selectors import inventory
from orders import services as orders
from tests.dashboard.conftest import TODAY, at, counter_sale, period, web_order
from tests.factories import make_variant
from tests.inventory.conftest import receive

BUILT = TODAY - timedelta(days=3)  # the day the stock moves (sales, the transfer in transit)
OLD = TODAY - timedelta(days=40)  # a sale before the 28 days of cover


def name(location) -> str:
    return f"{location.code} {location.name}"


@pytest.fixture
def stockroom(shop, clerk_a):
    """The shop's stock (warehouse: 50 each of tee, jeans and cap; store A: 5 each), then:

    - OLD: a counter sale of 1 tee at store A (outside the 28 days of cover);
    - BUILT (3 days before TODAY): at store A a counter sale of 2 tees, a web pickup order holding 2 jeans, a
      counter sale of 2 jeans, a transfer of 3 caps from the warehouse received and a counter sale of all 8
      caps; at store B 1 cap received and sold; a web order of 3 jeans shipped from the warehouse; a transfer
      of 10 tees and 4 jeans from the warehouse to store B shipped (in transit), and one only requested;
      cream (kept by lot, cost 80): at the warehouse lots L1 (10, expires TODAY+10) and L2 (20, TODAY+60),
      20 sold (L1 all, L2 10), then lot L3 (5, TODAY+20); at store A lot L0 (4, expired TODAY-2);
    - jeans' safety stock at store A is 4; costs: tee 200, jeans 600, cream 80, cap unknown."""
    shop.cream = make_variant(style_code="CREAM", variants=("50ML",), tracks_lots=True)
    with time_machine.travel(at(OLD, 10), tick=True):
        counter_sale(shop, [("TEE-M", 1)], day=OLD, clerk=clerk_a)
    with time_machine.travel(at(BUILT, 10), tick=True):
        counter_sale(shop, [("TEE-M", 2)], day=BUILT, clerk=clerk_a)
        web_order(shop, [("JEANS-M", 2)], day=BUILT, fulfilment="pickup", store=shop.store_a)
        counter_sale(shop, [("JEANS-M", 2)], day=BUILT, clerk=clerk_a)
        caps = stock.transfer_request(
            origin=shop.warehouse, destination=shop.store_a, lines=[(shop.cap, 3)], actor=None, approved=True
        )
        stock.transfer_ship(transfer=caps, actor=None)
        stock.transfer_receive(transfer=caps, actor=None)
        counter_sale(shop, [("CAP-M", 8)], day=BUILT, clerk=clerk_a)
        receive(shop.store_b, shop.cap, 1)
        counter_sale(shop, [("CAP-M", 1)], day=BUILT, store=shop.store_b)
        shipped = web_order(shop, [("JEANS-M", 3)], day=BUILT)
        orders.order_ship(order=shipped, location=shop.warehouse)
        moving = stock.transfer_request(
            origin=shop.warehouse, destination=shop.store_b, lines=[(shop.tee, 10), (shop.jeans, 4)], actor=None
        )
        stock.transfer_approve(transfer=moving, actor=None)
        stock.transfer_ship(transfer=moving, actor=None)
        stock.transfer_request(origin=shop.warehouse, destination=shop.store_a, lines=[(shop.tee, 1)], actor=None)
        receive(shop.warehouse, shop.cream, 10, cost="80", lot_code="L1", expiry_date=TODAY + timedelta(days=10))
        receive(shop.warehouse, shop.cream, 20, cost="80", lot_code="L2", expiry_date=TODAY + timedelta(days=60))
        stock.stock_sell(lines=[StockLine(shop.cream, shop.warehouse, 20)], actor=None, reference="cream-sale")
        receive(shop.warehouse, shop.cream, 5, cost="80", lot_code="L3", expiry_date=TODAY + timedelta(days=20))
        receive(shop.store_a, shop.cream, 4, cost="80", lot_code="L0", expiry_date=TODAY - timedelta(days=2))
        stock.stock_level_configure(variant=shop.jeans, location=shop.store_a, actor=None, safety_stock=4)
    SkuCost.objects.filter(variant=shop.tee).update(average_cost=Decimal("200"))
    SkuCost.objects.filter(variant=shop.jeans).update(average_cost=Decimal("600"))
    SkuCost.objects.filter(variant=shop.cap).delete()
    shop.in_transit = moving
    return shop


def figures(filters) -> dict:
    return {f.key: f for f in inventory.page(filters).figures}


def test_stock_outs_and_the_worst_skus(stockroom):
    shop = stockroom
    got = figures(period(TODAY - timedelta(days=6), TODAY))

    # warehouse: tee 40, jeans 43, cap 47, cream 15 (nothing out); store A: tee 2, jeans 3 on hand with 2
    # reserved (1 available, safety 4), cap 0 (out), cream 4 (the expired lot); store B: cap 0 (out)
    outs = {r["name"]: (r["skus"], r["out"], r["below"], r["share"]) for r in got["stock_outs"].rows}
    assert outs == {
        name(shop.warehouse): (4, 0, 0, Decimal("0.0000")),
        name(shop.store_a): (4, 1, 1, Decimal("0.2500")),
        name(shop.store_b): (1, 1, 0, Decimal("1.0000")),
    }
    assert [r["name"] for r in got["stock_outs"].rows] == [name(shop.store_a), name(shop.store_b), name(shop.warehouse)]
    assert got["stock_outs"].total["out"] == 2 and got["stock_outs"].total["share"] == Decimal("0.2222")  # 2 / 9
    # the cap is out at both stores and stocked at three locations, 47 available at the warehouse
    worst = [(r["sku"], r["out"], r["locations"], r["available"]) for r in got["worst_skus"].rows]
    assert worst == [("CAP-M", 2, 3, 47)]


def test_days_of_cover_buckets_by_location(stockroom):
    shop = stockroom
    rows = {r["name"]: r for r in figures(period(TODAY - timedelta(days=6), TODAY))["cover"].rows}

    def buckets(row):
        return tuple(row[k] for k in ("d0_7", "d8_30", "d31_90", "d91", "none"))

    # warehouse: jeans 43 on hand, 3 sold in 28 days -> 43 x 28 / 3 = 401 days; cream 15, 20 sold -> 21 days;
    # tee and cap not sold there
    assert buckets(rows[name(shop.warehouse)]) == (0, 1, 0, 1, 2)
    assert (rows[name(shop.warehouse)]["on_hand"], rows[name(shop.warehouse)]["sold"]) == (145, 23)
    assert rows[name(shop.warehouse)]["cover"] == Decimal("176.5")  # 145 x 28 / 23
    # store A: cap 0 on hand, 8 sold -> 0 days; tee 2 on hand, 2 sold (the OLD sale is outside) -> 28 days;
    # jeans 3 on hand, 2 sold -> 42 days; cream 4 on hand, not sold
    assert buckets(rows[name(shop.store_a)]) == (1, 1, 1, 0, 1)
    assert (rows[name(shop.store_a)]["on_hand"], rows[name(shop.store_a)]["sold"]) == (9, 12)
    assert rows[name(shop.store_a)]["cover"] == Decimal("21.0")
    # store B: the cap sold out
    assert buckets(rows[name(shop.store_b)]) == (1, 0, 0, 0, 0)

    # the 28 days end on the period's last day: ending the day before BUILT, no sale counts but the OLD one
    # is still too old, so every SKU with stock is "no sales"
    earlier = {
        r["name"]: r for r in figures(period(BUILT - timedelta(days=1), BUILT - timedelta(days=1)))["cover"].rows
    }
    assert buckets(earlier[name(shop.store_a)]) == (0, 0, 0, 0, 3)
    assert name(shop.store_b) not in earlier  # nothing on hand, nothing sold


def test_in_transit_expiring_lots_and_stock_value(stockroom):
    shop = stockroom
    page = inventory.page(period(TODAY - timedelta(days=6), TODAY))
    got = {f.key: f for f in page.figures}

    transit = got["in_transit"].rows
    assert [(r["code"], r["origin"], r["destination"], r["lines"], r["units"], r["value"], r["shipped"], r["age"])
            for r in transit] == [
        (str(shop.in_transit), name(shop.warehouse), name(shop.store_b), 2, 14, Decimal("4400.00"), BUILT, 3),
    ]  # fmt: skip  # 10 tees x 200 + 4 jeans x 600
    assert shop.in_transit.lines.count() == 2 and Transfer.objects.filter(status="shipped").count() == 1

    # L3 at the warehouse (5, expires in 20 days) and L0 at store A (4, expired); L2 expires after 30 days
    expiring = {r["name"]: (r["lots"], r["soon_units"], r["soon_value"], r["expired_units"], r["expired_value"])
                for r in got["expiring"].rows}  # fmt: skip
    assert expiring == {
        name(shop.warehouse): (1, 5, Decimal("400.00"), 0, Decimal("0.00")),
        name(shop.store_a): (1, 0, Decimal("0.00"), 4, Decimal("320.00")),
    }
    lots = [(r["lot"], r["days"], r["units"], r["value"]) for r in got["expiring_lots"].rows]
    assert lots == [("L0", -2, 4, Decimal("320.00")), ("L3", 20, 5, Decimal("400.00"))]

    # warehouse: tees 40 x 200 + jeans 43 x 600 + cream 15 x 80 = 35,000, and 47 caps without a cost;
    # store A: tees 2 x 200 + jeans 3 x 600 + cream 4 x 80 = 2,520; store B has nothing on hand
    value = {r["name"]: (r["units"], r["value"], r["uncosted"], r["uncosted_share"]) for r in got["stock_value"].rows}
    assert value == {
        name(shop.warehouse): (145, Decimal("35000.00"), 47, Decimal("0.3241")),
        name(shop.store_a): (9, Decimal("2520.00"), 0, Decimal("0.0000")),
    }
    assert got["stock_value"].rows[0]["share"] == Decimal("0.9328")  # 35,000 / 37,520

    kpis = {str(k.label): k.value for k in page.kpis}
    assert kpis == {
        "Stock value": Decimal("37520.00"),
        "SKUs out of stock": 1,
        "Units in transit": 14,
        "Units expiring within 30 days": 5,
    }


def test_a_store_sees_its_own_locations_only(stockroom):
    shop = stockroom
    page = inventory.page(period(TODAY - timedelta(days=6), TODAY, store_ids=frozenset({shop.store_a.pk})))
    got = {f.key: f for f in page.figures}

    for key in ("stock_outs", "cover", "expiring", "stock_value"):
        assert [r["name"] for r in got[key].rows] == [name(shop.store_a)], key
    assert [(r["sku"], r["out"], r["locations"], r["available"]) for r in got["worst_skus"].rows] == [
        ("CAP-M", 1, 1, 0)
    ]
    assert got["in_transit"].rows == []  # the only transfer in transit goes from the warehouse to store B
    assert [r["lot"] for r in got["expiring_lots"].rows] == ["L0"]
    kpis = {str(k.label): k.value for k in page.kpis}
    assert kpis == {
        "Stock value": Decimal("2520.00"),
        "SKUs out of stock": 1,
        "Units in transit": 0,
        "Units expiring within 30 days": 0,
    }

    store_b = inventory.page(period(TODAY, TODAY, store_ids=frozenset({shop.store_b.pk})))
    transit = {f.key: f for f in store_b.figures}["in_transit"]
    assert [r["units"] for r in transit.rows] == [14]  # store B sees what is on its way to it


def test_the_page_for_hq_and_for_a_store_manager(client, stockroom, hq_admin, manager_a):
    client.force_login(hq_admin)
    response = client.get("/dashboard/inventory/")
    assert response.status_code == 200
    assert response.context["page"].key == "inventory"
    assert stockroom.warehouse.code.encode() in response.content
    export = client.get("/dashboard/inventory/", {"export": "csv", "figure": "stock_value"})
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")

    client.force_login(manager_a)
    response = client.get("/dashboard/inventory/")
    assert response.status_code == 200
    assert stockroom.warehouse.code.encode() not in response.content
    assert stockroom.store_b.code.encode() not in response.content


def test_the_page_takes_the_same_few_queries_whatever_the_data(stockroom, django_assert_max_num_queries):
    # the location names, one pass over the stock rows per location (stock-outs and value), the worst SKUs
    # and their count, which snapshot of units sold there is, cover, 2 for transfers, 2 for lots
    with django_assert_max_num_queries(10):
        inventory.page(period(TODAY - timedelta(days=6), TODAY))


def test_days_of_cover_from_the_nightly_snapshot_are_the_same_as_from_the_movements(stockroom, clerk_a):
    """The snapshot of yesterday plus today's sales, less the day that left the 28 days, gives what the
    movements give; so does the snapshot of the period's own last day. Other days read the movements."""
    shop = stockroom
    dropped = TODAY - timedelta(days=28)  # in yesterday's 28 days, not in today's
    with time_machine.travel(at(dropped, 10), tick=True):
        counter_sale(shop, [("TEE-M", 1)], day=dropped, clerk=clerk_a)
    views = [
        period(TODAY - timedelta(days=6), TODAY),
        period(TODAY - timedelta(days=6), TODAY, store_ids=frozenset({shop.store_a.pk})),
        period(BUILT, BUILT),
    ]

    def cover():
        return [figures(f)["cover"].rows for f in views]

    from_movements = cover()
    a = {r["name"]: r for r in from_movements[0]}[name(shop.store_a)]
    assert a["sold"] == 12  # the tee of the dropped day is not counted
    dashboard.cover_refresh(TODAY - timedelta(days=1))
    assert CoverSold.objects.filter(location=shop.store_a, variant=shop.tee).get().units == 3  # 2 + the dropped 1
    assert cover() == from_movements
    with time_machine.travel(at(TODAY, 11), tick=True):  # a sale today, after the snapshot
        counter_sale(shop, [("TEE-M", 1)], day=TODAY, clerk=clerk_a)
    with_today = cover()
    CoverSold.objects.all().delete()
    assert cover() == with_today  # the same from the movements alone
    assert {r["name"]: r for r in with_today[0]}[name(shop.store_a)]["sold"] == 13
    dashboard.cover_refresh(TODAY)  # a snapshot of the period's last day itself
    assert cover() == with_today
