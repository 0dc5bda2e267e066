"""Register shifts: open with the opening cash, sales and refunds by tender through the shift, close with
a cash count and its variance, and the store manager's approval."""

from decimal import Decimal

import pytest

from omo.core.errors import BusinessRuleError, ConflictError, PermissionDeniedError
from orders import services as orders
from pos import services
from pos.models import Shift, ShiftEntry
from tests.conftest import client_for


@pytest.fixture
def till(shop):
    return services.register_create(actor=None, store=shop.store_a, code="POS1", name="櫃台 1")


def sell(shop, clerk, till, lines, tenders):
    order = orders.order_place(
        channel=shop.pos, fulfilment="counter", store=shop.store_a, clerk=clerk, actor=clerk, lines=lines
    )
    return services.counter_sale_pay(actor=clerk, register=till, order=order, tenders=tenders)


def test_a_shift_from_opening_to_approval(shop, till, clerk_a, manager_a):
    shift = services.shift_open(actor=clerk_a, register=till, opening_cash="5000")
    sell(shop, clerk_a, till, [("JEANS-M", 1)], [{"tender": "cash", "amount": "200"}, {"tender": "card"}])
    sell(shop, clerk_a, till, [("CAP-M", 1)], [{"tender": "cash"}])
    services.shift_record(shift=shift, kind="cash_out", amount="-1000", actor=clerk_a)  # to the safe

    report = services.shift_report(shift)
    assert report["by_tender"] == {
        "card": {"sales": "1000.00", "refunds": "0.00"},
        "cash": {"sales": "500.00", "refunds": "0.00"},
    }
    assert report["counts"] == {"sales": 3, "refunds": 0, "voids": 0}
    assert report["expected_cash"] == "4500.00"

    with pytest.raises(BusinessRuleError) as unexplained:
        services.shift_close(actor=clerk_a, shift=shift, counted_cash="4490")
    closed = services.shift_close(actor=clerk_a, shift=shift, counted_cash="4490", note="NT$10 short, coin dropped")
    assert (closed.status, closed.expected_cash, closed.variance) == ("closed", Decimal("4500.00"), Decimal("-10.00"))
    assert unexplained.value.code == "variance_note_required"

    with pytest.raises(PermissionDeniedError):
        services.shift_approve(actor=clerk_a, shift=shift)
    approved = services.shift_approve(actor=manager_a, shift=shift)
    assert (approved.status, approved.approved_by) == ("approved", manager_a)


def test_one_open_shift_per_register_and_no_sale_without_one(shop, till, clerk_a):
    order = orders.order_place(
        channel=shop.pos, fulfilment="counter", store=shop.store_a, clerk=clerk_a, actor=clerk_a, lines=[("CAP-M", 1)]
    )
    with pytest.raises(BusinessRuleError) as no_shift:
        services.counter_sale_pay(actor=clerk_a, register=till, order=order, tenders=[{"tender": "cash"}])
    services.shift_open(actor=clerk_a, register=till, opening_cash=0)
    with pytest.raises(ConflictError) as twice:
        services.shift_open(actor=clerk_a, register=till, opening_cash=0)

    assert (no_shift.value.code, twice.value.code) == ("no_open_shift", "shift_open")
    order.refresh_from_db()
    assert order.status == "pending_payment"
    assert Shift.objects.count() == 1


def test_a_clerk_of_another_store_cannot_use_the_register(shop, till, clerk_b):
    with pytest.raises(PermissionDeniedError):
        services.shift_open(actor=clerk_b, register=till, opening_cash=0)


def test_a_manager_does_not_approve_their_own_shift(shop, till, manager_a):
    shift = services.shift_open(actor=manager_a, register=till, opening_cash=100)
    services.shift_close(actor=manager_a, shift=shift, counted_cash=100)
    with pytest.raises(BusinessRuleError) as error:
        services.shift_approve(actor=manager_a, shift=shift)
    assert error.value.code == "own_shift"


def test_a_declined_card_records_only_what_was_taken(shop, till, clerk_a):
    from orders.services import PaymentDeclined

    shift = services.shift_open(actor=clerk_a, register=till, opening_cash=0)
    with pytest.raises(PaymentDeclined):
        sell(
            shop,
            clerk_a,
            till,
            [("JEANS-M", 1)],
            [{"tender": "cash", "amount": "200"}, {"tender": "card", "token": "decline"}],
        )
    assert list(ShiftEntry.objects.filter(shift=shift).values_list("tender", "amount")) == [("cash", Decimal("200.00"))]


def test_money_taken_before_a_later_failure_is_in_the_shift_once(shop, till, clerk_a, monkeypatch):
    """Cash and card are both taken, then finishing the sale fails (not a declined card): the money is in
    the drawer and at the bank all the same, so in the shift, once, also when recorded again."""
    shift = services.shift_open(actor=clerk_a, register=till, opening_cash=0)
    order = orders.order_place(
        channel=shop.pos, fulfilment="counter", store=shop.store_a, clerk=clerk_a, actor=clerk_a, lines=[("JEANS-M", 1)]
    )

    def boom(*args, **kwargs):
        raise RuntimeError("the hand-over failed")

    monkeypatch.setattr("orders.services._after_paid", boom)
    with pytest.raises(RuntimeError):
        services.counter_sale_pay(
            actor=clerk_a, register=till, order=order, tenders=[{"tender": "cash", "amount": "200"}, {"tender": "card"}]
        )
    entries = sorted(ShiftEntry.objects.filter(shift=shift).values_list("tender", "amount"))
    assert entries == [("card", Decimal("1000.00")), ("cash", Decimal("200.00"))]
    services._shift_catch_up(shift, order, clerk_a)  # again: nothing new
    assert ShiftEntry.objects.filter(shift=shift).count() == 2


def test_shifts_over_the_api(shop, till, clerk_a, manager_a, clerk_b):
    opened = client_for(clerk_a).post(
        f"/api/v1/pos/registers/{till.pk}/shift/", {"opening_cash": "3000"}, format="json"
    )
    assert opened.status_code == 201
    shift_id = opened.json()["id"]
    assert client_for(clerk_b).get(f"/api/v1/pos/registers/{till.pk}/shift/").status_code == 404
    live = client_for(clerk_a).get(f"/api/v1/pos/registers/{till.pk}/shift/").json()
    assert live["report"]["expected_cash"] == "3000.00"
    closed = client_for(clerk_a).post(f"/api/v1/pos/shifts/{shift_id}/close/", {"counted_cash": "3000"}, format="json")
    assert (closed.status_code, closed.json()["status"], closed.json()["variance"]) == (200, "closed", "0.00")
    approved = client_for(manager_a).post(f"/api/v1/pos/shifts/{shift_id}/approve/", {}, format="json")
    assert approved.json()["status"] == "approved"
