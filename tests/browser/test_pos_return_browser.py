"""A clerk takes back part of an online order at the store counter in a real browser."""

from decimal import Decimal

import pytest

from orders import services as orders
from pos import services
from tests.factories import make_staff
from tests.orders.conftest import fake_gateway, on_hand, shop  # noqa: F401  the orders tests' shop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_an_online_order_returned_in_store(page, live_server, shop):  # noqa: F811
    from omo.org.roles import Role

    make_staff(Role.CLERK, store=shop.store_a, username="tpe.clerk", password="demo-pass-2026")
    till = services.register_create(actor=None, store=shop.store_a, code="POS1", name="櫃台 1")
    web = orders.order_place(
        channel=shop.web,
        fulfilment="ship",
        lines=[("TEE-M", 2)],
        member=shop.member,
        shipping_address={"name": "林美華", "phone": "0912345678", "address": "台北市"},
    )
    orders.order_pay(order=web, tenders=[{"tender": "card"}])
    orders.order_ship(order=web, location=shop.warehouse)

    page.goto(f"{live_server.url}/accounts/login/?next=/pos/r/{till.pk}/returns/")
    page.fill("#id_username", "tpe.clerk")
    page.fill("#id_password", "demo-pass-2026")
    page.click("button[type=submit]")
    page.fill("#return-order", web.number)
    page.click("#return-find")
    page.fill("#ret-TEE-M", "1")
    page.click("#do-return")
    page.wait_for_selector("#returned")

    web.refresh_from_db()
    assert (web.status, web.refunded_total) == ("partially_returned", Decimal(500))
    assert "500" in page.inner_text("#returned")
    assert on_hand(shop.tee, shop.store_a) == (6, 0)
