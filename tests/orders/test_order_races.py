"""Races with real concurrent PostgreSQL connections: a flash sale never oversells, two returns of the
same units cannot both succeed, two payments of one order cannot both be taken."""

import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection

from inventory.models import StockLevel
from omo.core.errors import ApplicationError
from orders import services
from orders.models import Order, Payment, Return
from tests.inventory.conftest import receive
from tests.orders.conftest import on_hand

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
ADDRESS = {"name": "林", "phone": "0912345678", "address": "台北"}


def race(n: int, work) -> Counter:
    outcomes: Counter = Counter()
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait()
            work(i)
            outcomes["ok"] += 1
        except ApplicationError as error:
            outcomes[error.code] += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def test_a_flash_sale_sells_exactly_what_is_there(shop, require_postgres):
    from catalog.services import price_set
    from tests.factories import make_variant

    hot = make_variant(style_code="HOT")
    price_set(variant=hot, channel=shop.web, price=Decimal(99))
    receive(shop.warehouse, hot, 25)

    outcomes = race(
        40,
        lambda i: services.order_place(
            channel=shop.web, lines=[("HOT-M", 1)], fulfilment="ship", shipping_address=ADDRESS
        ),
    )

    assert outcomes == Counter({"ok": 25, "insufficient_stock": 15})
    assert Order.objects.filter(lines__sku="HOT-M").count() == 25
    level = StockLevel.objects.get(variant=hot, location=shop.warehouse)
    assert (level.on_hand, level.reserved) == (25, 25)


def test_two_returns_of_the_same_units_cannot_both_succeed(shop, clerk_a, require_postgres):
    order = services.order_place(channel=shop.web, lines=[("TEE-M", 2)], fulfilment="ship", shipping_address=ADDRESS)
    services.order_pay(order=order, tenders=[{"tender": "card"}])
    services.order_ship(order=order, location=shop.warehouse)
    line = order.lines.get()

    outcomes = race(
        6,
        lambda i: services.return_create(
            order=order, lines=[{"line": line.pk, "quantity": 2}], channel=shop.pos, store=shop.store_a, actor=clerk_a
        ),
    )

    assert outcomes == Counter({"ok": 1, "not_returnable": 5})
    line.refresh_from_db()
    assert (line.returned_quantity, line.refunded_amount) == (2, Decimal(1000))
    assert Return.objects.count() == 1
    assert on_hand(shop.tee, shop.store_a) == (7, 0)


def test_two_payments_of_one_order_cannot_both_be_taken(shop, require_postgres):
    order = services.order_place(channel=shop.web, lines=[("CAP-M", 1)], fulfilment="ship", shipping_address=ADDRESS)

    outcomes = race(5, lambda i: services.order_pay(order=order, tenders=[{"tender": "card"}]))

    assert outcomes["ok"] == 1
    assert sum(outcomes.values()) == 5
    assert set(outcomes) <= {"ok", "invalid_amount", "order_not_payable"}
    order.refresh_from_db()
    assert (order.status, order.paid_total) == ("paid", Decimal(300))
    assert Payment.objects.filter(status="captured").count() == 1
