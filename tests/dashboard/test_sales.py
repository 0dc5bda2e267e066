"""The sales page against figures computed by hand, the same whether a day is rolled up or live."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import openpyxl
import pytest

from inventory.models import SkuCost
from omo.dashboard import services as dashboard
from omo.dashboard.models import ProductDay, ProductMonth, RolledUpDay, SalesDay
from omo.dashboard.rollups import sales_rows, whole_months
from omo.dashboard.selectors import sales
from orders import services as orders
from tests.dashboard.conftest import TODAY, counter_sale, move_return, period, web_order
from tests.factories import make_staff

D1, D2 = date(2026, 11, 20), date(2026, 11, 21)
NUM_QUERIES = 21  # whatever the number of orders, days or products


@pytest.fixture
def week(shop, clerk_a, frozen_today):
    """D1: a web order of 2 tees (1,000, shipped) and a counter sale of jeans at store A (1,200, a
    member); D2: a web order of a cap picked up at store B (300), and one tee of D1's order returned
    (500). Costs: tee 200, jeans 600, cap unknown."""
    SkuCost.objects.filter(variant=shop.tee).update(average_cost=Decimal("200"))
    SkuCost.objects.filter(variant=shop.jeans).update(average_cost=Decimal("600"))
    SkuCost.objects.filter(variant=shop.cap).delete()
    shipped = web_order(shop, [("TEE-M", 2)], day=D1)
    counter_sale(shop, [("JEANS-M", 1)], day=D1, clerk=clerk_a, member=shop.member)
    web_order(shop, [("CAP-M", 1)], day=D2, fulfilment="pickup", store=shop.store_b)
    orders.order_ship(order=shipped, location=shop.warehouse)
    tee = shipped.lines.get()
    ret = orders.return_create(
        order=shipped, lines=[{"line": tee.pk, "quantity": 1, "location": shop.warehouse}], channel=shop.web, actor=None
    )
    move_return(ret, D2)
    return shop


def test_the_totals_are_the_hand_computed_ones(week):
    got = sales.totals(period(D1, D2))

    assert (got["orders"], got["member_orders"], got["units"], got["returns"]) == (3, 1, 4, 1)
    assert (got["sales"], got["refunds"], got["net"]) == (Decimal("2500.00"), Decimal("500.00"), Decimal("2000.00"))
    assert got["ticket"] == Decimal("833.33")
    # costed: tees 1,000 at cost 400 and jeans 1,200 at 600; the cap has no cost
    assert (got["costed_sales"], got["cost"]) == (Decimal("2200.00"), Decimal("1000.00"))
    assert got["margin"] == Decimal("0.5455")


def test_by_channel_store_product_and_category(week):
    page = sales.page(period(D1, D2, compare="none"))
    figures = {f.key: f for f in page.figures}

    channels = {r["name"]: (r["orders"], r["sales"]) for r in figures["by_channel"].rows}
    assert channels == {
        f"POS {week.pos.name}": (1, Decimal("1200.00")),
        f"WEB {week.web.name}": (2, Decimal("1300.00")),
    }
    stores = {r["name"]: r["sales"] for r in figures["by_store"].rows}
    assert stores == {
        f"{week.store_a.code} {week.store_a.name}": Decimal("1200.00"),
        f"{week.store_b.code} {week.store_b.name}": Decimal("300.00"),
        "Online, shipped": Decimal("1000.00"),
    }
    top = [(r["sku"], r["units"], r["sales"], r["margin"]) for r in figures["top_products"].rows]
    assert top == [
        ("JEANS-M", 1, Decimal("1200.00"), Decimal("0.5000")),
        ("TEE-M", 2, Decimal("1000.00"), Decimal("0.6000")),
        ("CAP-M", 1, Decimal("300.00"), None),
    ]
    categories = [(r["name"], r["share"]) for r in figures["top_categories"].rows]
    assert categories == [
        ("bottoms", Decimal("0.4800")),
        ("tops", Decimal("0.4000")),
        ("accessories", Decimal("0.1200")),
    ]
    by_day = [(r["day"], r["orders"], r["sales"], r["refunds"]) for r in figures["by_day"].rows]
    assert by_day == [(D1, 2, Decimal("2200.00"), Decimal("0.00")), (D2, 1, Decimal("300.00"), Decimal("500.00"))]


def test_rolled_up_days_give_the_same_figures_as_live_ones_and_today_stays_live(week, shop):
    filters = period(D1, TODAY, compare="none")
    live = [(f.key, f.rows) for f in sales.page(filters).figures]
    assert not RolledUpDay.objects.exists()

    assert dashboard.rollup_catch_up() == (TODAY - D1).days  # D1 .. yesterday
    # D2 has a row for the return of the shipped order of D1
    assert SalesDay.objects.count() == 4 and ProductDay.objects.count() == 3
    assert not RolledUpDay.objects.filter(day=TODAY).exists()
    assert [(f.key, f.rows) for f in sales.page(filters).figures] == live

    web_order(shop, [("CAP-M", 2)], day=TODAY)  # today: computed live beside the rolled-up days
    assert sales.totals(filters)["sales"] == Decimal("3100.00")
    # refreshing again changes nothing (the rows of a day are replaced, not added)
    dashboard.rollup_refresh(first=D1, last=D2)
    assert sales.totals(period(D1, D2))["sales"] == Decimal("2500.00")


def test_whole_months_of_a_period():
    assert whole_months(date(2026, 1, 31), date(2026, 4, 29)) == [date(2026, 2, 1), date(2026, 3, 1)]
    assert whole_months(date(2026, 1, 1), date(2026, 1, 31)) == [date(2026, 1, 1)]
    assert whole_months(date(2026, 1, 1), date(2026, 1, 30)) == []
    assert whole_months(date(2025, 12, 4), date(2026, 12, 3)) == [date(2026, m, 1) for m in range(1, 12)]


def test_a_long_period_reads_whole_months_from_the_monthly_product_rollup(week, shop):
    """October is whole and rolled up: every store together reads it from ``ProductMonth``; the days
    around it from ``ProductDay``; November (today is live) from the days. The figures do not change."""
    web_order(shop, [("TEE-M", 1)], day=date(2026, 9, 30))
    web_order(shop, [("JEANS-M", 2)], day=date(2026, 10, 1))
    web_order(shop, [("CAP-M", 1)], day=date(2026, 10, 31), fulfilment="pickup", store=shop.store_b)
    web_order(shop, [("TEE-M", 3)], day=TODAY)
    views = [
        period(date(2026, 9, 20), TODAY, compare="none"),
        period(date(2026, 9, 20), TODAY, compare="none", channel_ids=frozenset({shop.web.pk})),
        period(date(2026, 9, 20), TODAY, compare="none", store_ids=frozenset({shop.store_b.pk})),
    ]

    def products(filters):
        figures = {f.key: f for f in sales.page(filters).figures}
        return [(k, figures[k].rows, figures[k].total) for k in ("top_products", "top_categories")]

    live = [products(f) for f in views]
    top = {r["sku"]: r["units"] for r in live[0][0][1]}
    assert (top["TEE-M"], top["JEANS-M"], top["CAP-M"]) == (6, 3, 2)  # 2 + 1 + 3, 1 + 2, 1 + 1
    dashboard.rollup_catch_up()
    october = ProductMonth.objects.filter(month=date(2026, 10, 1))
    assert sorted(october.values_list("variant__sku", "units")) == [("CAP-M", 1), ("JEANS-M", 2)]
    assert not ProductMonth.objects.filter(month=date(2026, 11, 1), variant=shop.tee, units__gt=10).exists()
    assert [products(f) for f in views] == live
    # October's days are not read for every store together: without them the figures stay the same
    ProductDay.objects.filter(day__month=10).delete()
    assert [products(f) for f in views[:2]] == live[:2]


def test_the_comparison_period(week, shop):
    web_order(shop, [("JEANS-M", 1)], day=date(2026, 11, 19))  # the day before D1..D2 (previous period)
    page = sales.page(period(D1, D2, compare="previous"))
    kpi = {str(k.label): k for k in page.kpis}
    assert (kpi["Sales"].value, kpi["Sales"].compare) == (Decimal("2500.00"), Decimal("1200.00"))
    assert kpi["Sales"].change == (Decimal("2500") - Decimal("1200")) / Decimal("1200")
    by_day = {f.key: f for f in page.figures}["by_day"].rows
    assert [(r["compare_day"], r["compare_sales"]) for r in by_day] == [
        (date(2026, 11, 18), Decimal("0.00")),
        (date(2026, 11, 19), Decimal("1200.00")),
    ]


def test_a_store_filter_sees_that_store_only(week):
    only_a = period(D1, D2, store_ids=frozenset({week.store_a.pk}))
    assert [(r["orders"], r["sales"]) for r in sales_rows(only_a, ())] == [(1, Decimal("1200.00"))]


# --- the pages -------------------------------------------------------------------------------------------


def get(client, user, url, **params):
    client.force_login(user)
    return client.get(url, params)


def test_hq_sees_every_store_and_exports_csv_and_xlsx(client, week, hq_admin):
    response = get(client, hq_admin, "/dashboard/sales/", **{"from": "2026-11-20", "to": "2026-11-21"})
    assert response.status_code == 200
    assert response.context["page"].kpis[0].value == Decimal("2500.00")
    assert b'data-chart="by_store-chart"' in response.content

    export = get(
        client,
        hq_admin,
        "/dashboard/sales/",
        **{"from": "2026-11-20", "to": "2026-11-21", "export": "csv", "figure": "top_products"},
    )
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert export["Content-Type"].startswith("text/csv")
    assert rows[1][1:5] == ["JEANS-M", rows[1][2], "1", "1200.00"]
    assert [r[1] for r in rows[1:]] == ["JEANS-M", "TEE-M", "CAP-M"]

    xlsx = get(
        client,
        hq_admin,
        "/dashboard/sales/",
        **{"from": "2026-11-20", "to": "2026-11-21", "export": "xlsx", "figure": "by_channel"},
    )
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert [c.value for c in sheet[2]][:3] == [f"WEB {week.web.name}", 2, 1300]


def test_a_store_manager_sees_only_their_store_and_cannot_pick_another(client, week, manager_a, store_b):
    response = get(client, manager_a, "/dashboard/sales/", **{"from": "2026-11-20", "to": "2026-11-21"})
    assert response.status_code == 200
    assert response.context["page"].kpis[0].value == Decimal("1200.00")
    assert store_b.code.encode() not in response.content

    refused = get(client, manager_a, "/dashboard/sales/", store=store_b.code)
    assert refused.status_code == 400
    assert refused.context["problems"] == {"store": "No such store."}


def test_clerks_and_anonymous_users_are_kept_out(client, week, clerk_a):
    assert client.get("/dashboard/sales/").status_code == 302
    assert get(client, clerk_a, "/dashboard/sales/").status_code == 403
    assert get(client, make_staff("hq_crm").user, "/dashboard/sales/").status_code == 200


def test_bad_filters_are_named(client, hq_admin):
    response = get(client, hq_admin, "/dashboard/sales/", **{"from": "2026-13-01", "compare": "yesterday"})
    assert response.status_code == 400
    assert set(response.context["problems"]) == {"from", "compare"}


def test_the_page_takes_a_fixed_number_of_queries(week, shop, django_assert_num_queries):
    from omo.dashboard import pages

    dashboard.rollup_catch_up()
    web_order(shop, [("CAP-M", 2)], day=TODAY)
    filters = period(D1, TODAY)
    with django_assert_num_queries(NUM_QUERIES):
        pages.build("sales", filters)
    for n in range(5):  # more orders, more products: the same queries
        web_order(shop, [("TEE-M", 1 + n % 2)], day=D2)
    dashboard.rollup_refresh(first=D2, last=D2)
    with django_assert_num_queries(NUM_QUERIES):
        pages.build("sales", filters)
