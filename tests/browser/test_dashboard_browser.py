"""HQ opens the dashboard in a real browser: the sales page draws its charts from a month of orders in
store and online, the OMO members page its segments; a store manager sees their own store only. The
screenshot is the README's."""

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from members import services as member_services
from omo.dashboard import services as dashboard
from omo.org.roles import Role
from tests.dashboard.conftest import counter_sale, web_order
from tests.factories import make_staff
from tests.inventory.conftest import receive
from tests.orders.conftest import fake_gateway, shop  # noqa: F401  the orders tests' shop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
DOCS = Path(__file__).resolve().parents[2] / "docs"


def a_month_of_sales(shop):  # noqa: F811
    today = timezone.localdate()
    for variant in (shop.tee, shop.jeans, shop.cap):
        receive(shop.store_a, variant, 40)
        receive(shop.store_b, variant, 40)
    members = [shop.member] + [
        member_services.member_register(phone=f"09220001{n:02d}", name=f"會員{n}").member for n in range(6)
    ]
    clerks = {
        shop.store_a: make_staff(Role.CLERK, store=shop.store_a, username="a.seller").user,
        shop.store_b: make_staff(Role.CLERK, store=shop.store_b, username="b.seller").user,
    }
    rows = []
    for n in range(30):
        day = today - timedelta(days=29 - n)
        store = shop.store_a if n % 3 else shop.store_b
        counter_sale(shop, [("TEE-M", 1 + n % 2)], day=day, store=store, clerk=clerks[store], member=members[n % 7])
        if n % 2:
            web_order(shop, [("JEANS-M", 1)], day=day, member=members[(n + 3) % 7])
        if n % 5 == 0:
            counter_sale(shop, [("CAP-M", 1)], day=day, store=shop.store_a, clerk=clerks[shop.store_a])
        rows += [
            {"store": s.code, "day": day.isoformat(), "hour": 14, "visits": 6 + n % 4}
            for s in (shop.store_a, shop.store_b)
        ]
        rows.append({"channel": shop.web.code, "day": day.isoformat(), "visits": 70 + n})
    dashboard.traffic_record(rows=rows, source="api", actor=None)
    dashboard.rollup_catch_up()


def log_in(page, live_server, username):
    page.goto(f"{live_server.url}/accounts/login/?next=/dashboard/")
    page.fill("#id_username", username)
    page.fill("#id_password", "demo-pass-2026")
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_selector("body[data-charts-ready='1']")


def drawn(page, key: str) -> bool:
    """A chart's canvas has pixels drawn (not only a blank box)."""
    return page.evaluate(
        """key => { const c = document.querySelector(`canvas[data-chart='${key}-chart']`);
                    return !!window.Chart.getChart(c) && c.width > 0 && c.toDataURL().length > 3000; }""",
        key,
    )


def test_hq_sees_the_charts_and_a_store_manager_only_their_store(page, live_server, screenshot, shop):  # noqa: F811
    a_month_of_sales(shop)
    make_staff(Role.HQ_ADMIN, username="hq.viewer", password="demo-pass-2026")
    make_staff(Role.STORE_MANAGER, store=shop.store_b, username="b.manager", password="demo-pass-2026")

    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server, "hq.viewer")
    assert page.inner_text("h1") == "銷售"
    for key in ("by_day", "by_channel", "by_store", "top_products", "top_categories"):
        assert drawn(page, key), key
    assert shop.store_a.code in page.inner_text("#by_store table")
    shot = screenshot("dashboard-sales")
    if os.environ.get(
        "OMO_UPDATE_DOCS"
    ):  # refreshes the README's screenshot: OMO_UPDATE_DOCS=1 ./bin/test tests/browser
        DOCS.mkdir(exist_ok=True)
        shutil.copy(shot, DOCS / "dashboard.png")

    page.click("header nav >> text=OMO 會員")
    page.wait_for_selector("body[data-charts-ready='1']")
    assert drawn(page, "segments") and drawn(page, "trend")
    assert "雙通路" in page.inner_text("#segments table")
    screenshot("dashboard-members")
    for title in ("來客數 × 提袋率 × 客單價", "跨通路流動", "店員業績歸屬", "庫存健康度", "優惠券與點數"):
        page.click(f"header nav >> text={title}")
        page.wait_for_selector("body[data-charts-ready='1']")
        assert page.inner_text("h1") == title
        assert page.locator("section.figure").count() >= 3, title
    assert errors == []

    page.context.clear_cookies()
    log_in(page, live_server, "b.manager")
    assert page.locator("select[name=store] option").all_inner_texts() == [f"{shop.store_b.code} {shop.store_b.name}"]
    assert shop.store_a.code not in page.inner_text("#by_store table")
