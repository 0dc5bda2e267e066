"""Staff PINs (quick clerk switching, manager overrides) and the manager override that lets a clerk sell
goods in hand when the store's stock record says they are not there."""

import pytest
from django.core.cache import cache

from inventory.models import StockMovement
from omo.core.errors import BusinessRuleError, ConflictError, PermissionDeniedError
from omo.events.models import OutboxEvent
from omo.org import services as org
from orders import services as orders
from tests.conftest import client_for
from tests.orders.conftest import on_hand


@pytest.fixture(autouse=True)
def no_pin_failures():
    cache.clear()
    yield
    cache.clear()


def test_pins_are_hashed_checked_and_locked_after_five_misses(store_a, manager_a):
    org.staff_pin_set(user=manager_a, pin="4826")
    manager_a.staff_profile.refresh_from_db()
    assert manager_a.staff_profile.pin_hash and "4826" not in manager_a.staff_profile.pin_hash
    assert org.staff_pin_check(username="A.Manager", pin="4826", store_id=store_a.pk) == manager_a
    for _ in range(5):
        with pytest.raises(PermissionDeniedError):
            org.staff_pin_check(username="a.manager", pin="0000", store_id=store_a.pk)
    with pytest.raises(PermissionDeniedError) as locked:
        org.staff_pin_check(username="a.manager", pin="4826", store_id=store_a.pk)
    assert locked.value.code == "pin_locked"


@pytest.mark.parametrize(
    ("pin", "code"), [("12", "invalid_pin"), ("abcd", "invalid_pin"), ("1111", "weak_pin"), ("1234", "weak_pin")]
)
def test_weak_or_malformed_pins_are_refused(manager_a, pin, code):
    with pytest.raises(BusinessRuleError) as error:
        org.staff_pin_set(user=manager_a, pin=pin)
    assert error.value.code == code


def test_another_stores_manager_pin_does_not_work_here(store_a, manager_b):
    org.staff_pin_set(user=manager_b, pin="4826")
    with pytest.raises(PermissionDeniedError):
        org.staff_pin_check(username="b.manager", pin="4826", store_id=store_a.pk)


def test_a_manager_override_sells_goods_in_hand_and_is_audited(shop, clerk_a, manager_a):
    # the record says 5 caps at store A; the customer brings a sixth from the shelf
    with pytest.raises(ConflictError):
        orders.order_place(
            channel=shop.pos, fulfilment="counter", store=shop.store_a, actor=clerk_a, lines=[("CAP-M", 6)]
        )

    order = orders.order_place(
        channel=shop.pos,
        fulfilment="counter",
        store=shop.store_a,
        clerk=clerk_a,
        actor=clerk_a,
        lines=[("CAP-M", 6)],
        override_by=manager_a,
    )

    assert order.status == "pending_payment"
    adjustment = StockMovement.objects.get(kind="adjustment", location=shop.store_a)
    assert (adjustment.quantity, adjustment.created_by) == (1, manager_a)
    assert "a.manager" in adjustment.reason and "a.clerk" in adjustment.reason
    assert OutboxEvent.objects.get(event_type="stock.override").payload["lines"] == [{"sku": "CAP-M", "quantity": 1}]
    assert on_hand(shop.cap, shop.store_a) == (6, 6)


def test_a_clerk_cannot_override_and_the_api_takes_the_managers_pin(shop, clerk_a, manager_a):
    with pytest.raises(PermissionDeniedError):
        orders.order_place(
            channel=shop.pos,
            fulfilment="counter",
            store=shop.store_a,
            actor=clerk_a,
            lines=[("CAP-M", 6)],
            override_by=clerk_a,
        )
    org.staff_pin_set(user=manager_a, pin="4826")
    body = {"lines": [{"sku": "CAP-M", "quantity": 6}], "fulfilment": "counter"}
    wrong = client_for(clerk_a).post(
        "/api/v1/orders/",
        {**body, "override": {"manager": "a.manager", "pin": "9999"}},
        format="json",
        HTTP_IDEMPOTENCY_KEY="o-1",
    )
    right = client_for(clerk_a).post(
        "/api/v1/orders/",
        {**body, "override": {"manager": "a.manager", "pin": "4826"}},
        format="json",
        HTTP_IDEMPOTENCY_KEY="o-2",
    )
    assert (wrong.status_code, wrong.json()["code"]) == (403, "wrong_pin")
    assert right.status_code == 201, right.json()
    assert StockMovement.objects.filter(kind="adjustment").count() == 1


def test_with_the_cache_down_a_pin_check_fails_closed(store_a, manager_a, monkeypatch):
    """The PIN lock counts in the shared cache (Redis): without it, five tries could become five
    hundred, so the check is refused (503 ``pin_check_unavailable``) rather than let through."""
    from omo.core.errors import UnavailableError

    org.staff_pin_set(user=manager_a, pin="4826")

    def down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(org.cache, "get", down)
    with pytest.raises(UnavailableError) as refused:
        org.staff_pin_check(username="a.manager", pin="4826", store_id=store_a.pk)
    assert (refused.value.code, refused.value.status_code) == ("pin_check_unavailable", 503)
