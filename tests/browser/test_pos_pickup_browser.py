"""At the pickup counter a clerk finds a web order by its pickup code and hands it over in two batches
(分批取貨) in a real browser."""

import pytest

from orders import services as orders
from pos import services
from tests.factories import make_staff
from tests.orders.conftest import fake_gateway, on_hand, shop  # noqa: F401  the orders tests' shop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_a_pickup_handed_over_in_two_batches(page, live_server, screenshot, shop):  # noqa: F811
    from omo.org.roles import Role

    make_staff(Role.CLERK, store=shop.store_a, username="tpe.clerk", password="demo-pass-2026")
    till = services.register_create(actor=None, store=shop.store_a, code="POS1", name="櫃台 1")
    order = orders.order_place(
        channel=shop.web, fulfilment="pickup", store=shop.store_a, lines=[("TEE-M", 3)], member=shop.member
    )
    orders.order_pay(order=order, tenders=[{"tender": "card"}])
    order.refresh_from_db()

    page.goto(f"{live_server.url}/accounts/login/?next=/pos/r/{till.pk}/pickups/")
    page.fill("#id_username", "tpe.clerk")
    page.fill("#id_password", "demo-pass-2026")
    page.click("button[type=submit]")
    page.fill("#pickup-q", order.pickup_code)
    page.click("#pickup-find")
    page.get_by_role("link", name=order.number).click()

    page.fill("#qty-TEE-M", "2")
    page.fill("#pickup-code", order.pickup_code)
    page.click("#hand-over")
    page.wait_for_selector("#handed-over")
    assert on_hand(shop.tee, shop.store_a) == (3, 1)
    page.fill("#pickup-code", order.pickup_code)
    page.click("#hand-over")  # the rest
    page.wait_for_selector("#handed-over")

    order.refresh_from_db()
    assert order.status == "completed"
    assert order.fulfilments.filter(kind="pickup").count() == 2
    assert on_hand(shop.tee, shop.store_a) == (2, 0)
    screenshot("pos-pickup")
