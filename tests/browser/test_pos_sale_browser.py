"""A clerk sells at the counter in a real browser: open the shift, scan two items (a scanner types the
code and Enter), find the member by phone, apply a coupon and points, pay part in cash and part by card,
get the receipt; a double click on pay sells once."""

import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from members import services as member_services
from orders.models import Order
from pos import services
from tests.factories import make_staff
from tests.orders.conftest import fake_gateway, shared_coupon, shop  # noqa: F401  the orders tests' shop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_a_clerk_sells_with_member_coupon_points_and_split_tender(page, live_server, screenshot, shop):  # noqa: F811
    from omo.org.roles import Role

    make_staff(Role.CLERK, store=shop.store_a, username="tpe.clerk", password="demo-pass-2026")
    services.register_create(actor=None, store=shop.store_a, code="POS1", name="櫃台 1")
    shared_coupon("TEN", 10)
    member_services.points_earn(member=shop.member, points=50, reference="GIFT")

    page.goto(f"{live_server.url}/accounts/login/?next=/pos/")
    page.fill("#id_username", "tpe.clerk")
    page.fill("#id_password", "demo-pass-2026")
    page.click("button[type=submit], input[type=submit]")
    page.get_by_role("link", name="櫃台 1").click()
    page.fill("#opening_cash", "3000")
    page.click("#open-shift")

    for code in ("JEANS-M", "TEE-M"):
        page.fill("#scan", code)
        page.press("#scan", "Enter")
        page.wait_for_selector(f"#cart >> text={code}")
        # the scan field clears and keeps the focus for the next item (omo/static/omo/page.js)
        page.wait_for_function("document.activeElement.id === 'scan' && document.activeElement.value === ''")
    page.fill("#member-phone", "0912345678")
    page.click("#member-find")
    page.wait_for_selector("#member-card")
    assert "0912-***-678" in page.inner_text("#member-card")
    page.fill("#coupon", "TEN")
    page.fill("#points", "20")
    page.click("#apply")
    page.wait_for_selector("#total >> text=1690")
    page.fill("#cash", "1000")
    page.fill("#card", "1000")
    shot = screenshot("pos-sale")
    if os.environ.get(
        "OMO_UPDATE_DOCS"
    ):  # refreshes the README's screenshot: OMO_UPDATE_DOCS=1 ./bin/test tests/browser
        DOCS.mkdir(exist_ok=True)
        shutil.copy(shot, DOCS / "pos-sale.png")
    page.dblclick("#pay")  # a double click
    page.wait_for_selector("#receipt-number")

    order = Order.objects.get()
    assert page.inner_text("#receipt-number") == order.number
    assert page.inner_text("#change") == "310"
    page.evaluate("window.print = () => { document.body.dataset.printed = '1'; }")
    page.click("button[data-print]")
    assert page.get_attribute("body", "data-printed") == "1"
    assert (order.status, order.total, order.member) == ("completed", Decimal(1690), shop.member)
    assert order.payments.count() == 2
    assert shot.stat().st_size > 20_000
