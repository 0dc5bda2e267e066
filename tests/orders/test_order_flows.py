"""Every channel combination end to end through the services: stock, points, coupon and money checked
after each step, and a refused call leaves everything as it was."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from inventory import services as stock
from inventory.models import Reservation, Transfer
from members import services as member_services
from members.models import Coupon, CouponRedemption, Purchase
from omo.core.errors import ApplicationError, BusinessRuleError, ConflictError
from omo.events.models import OutboxEvent
from orders import services
from orders.models import Order, OrderStatusChange, Payment, Refund, StoreCreditAccount
from tests.orders.conftest import on_hand, points_of, shared_coupon

TEE, JEANS, CAP = "TEE-M", "JEANS-M", "CAP-M"
ADDRESS = {"name": "林美華", "phone": "0912345678", "address": "台北市信義區松高路 1 號"}


def place(shop, **kwargs) -> Order:
    kwargs.setdefault("channel", shop.web)
    kwargs.setdefault("fulfilment", "ship")
    if kwargs["fulfilment"] == "ship":
        kwargs.setdefault("shipping_address", ADDRESS)
    return services.order_place(**kwargs)


def statuses(order) -> list[str]:
    return list(OrderStatusChange.objects.filter(order=order).order_by("id").values_list("to_status", flat=True))


def events(order) -> list[str]:
    return list(
        OutboxEvent.objects.filter(aggregate_id=order.number).order_by("id").values_list("event_type", flat=True)
    )


def test_web_order_shipped_from_the_warehouse(shop, clerk_a, fake_gateway):
    order = place(shop, lines=[(TEE, 2), (JEANS, 1)], member=shop.member)
    assert (order.status, order.total) == ("pending_payment", Decimal(2200))
    assert on_hand(shop.tee, shop.warehouse) == (50, 2)  # held, not gone

    services.order_pay(order=order, tenders=[{"tender": "card", "token": "tok_visa"}])
    order.refresh_from_db()
    assert (order.status, order.paid_total, order.points_earned) == ("paid", Decimal(2200), 22)
    assert points_of(shop.member) == 22
    assert Purchase.objects.get(reference=order.number).amount == Decimal(2200)
    assert fake_gateway[0][:3] == ("charge", "card", Decimal(2200))

    shipment = services.order_ship(order=order, location=shop.warehouse, tracking="TW123")
    order.refresh_from_db()
    assert order.status == "completed"
    assert on_hand(shop.tee, shop.warehouse) == (48, 0)
    assert on_hand(shop.jeans, shop.warehouse) == (49, 0)
    assert shipment.lines.count() == 2
    assert statuses(order) == ["pending_payment", "paid", "fulfilling", "completed"]
    assert events(order) == ["order.created", "order.paid", "order.fulfilling", "order.completed"]


def test_an_order_split_over_two_locations_ships_in_two_parts(shop):
    order = place(shop, lines=[(TEE, 53)])  # the warehouse holds 50, store A ships the rest (門市出貨)
    services.order_pay(order=order, tenders=[{"tender": "line_pay"}])

    services.order_ship(order=order, location=shop.warehouse)
    order.refresh_from_db()
    assert order.status == "fulfilling"
    services.order_ship(order=order, location=shop.store_a)
    order.refresh_from_db()
    assert order.status == "completed"
    assert (on_hand(shop.tee, shop.warehouse), on_hand(shop.tee, shop.store_a)) == ((0, 0), (2, 0))
    # each shipment keeps its units (the dashboard's ship-from-store counts them without the lines)
    assert [(f.location, f.units) for f in order.fulfilments.order_by("pk")] == [
        (shop.warehouse, 50),
        (shop.store_a, 3),
    ]


def test_out_of_stock_is_refused_naming_the_skus_and_nothing_changes(shop):
    shared_coupon("FIFTY", 50)
    member_services.points_earn(member=shop.member, points=100, reference="GIFT")

    with pytest.raises(ConflictError) as error:
        place(shop, lines=[(TEE, 1), (CAP, 999)], member=shop.member, coupon_code="FIFTY", points=30)

    assert error.value.code == "insufficient_stock"
    assert [line["sku"] for line in error.value.details["lines"]] == [CAP]
    assert not Order.objects.exists()
    assert Coupon.objects.get(code="FIFTY").times_used == 0
    assert points_of(shop.member) == 100
    assert on_hand(shop.tee, shop.warehouse) == (50, 0)


def test_unpaid_orders_are_cancelled_giving_back_stock_coupon_and_points(shop):
    shared_coupon("FIFTY", 50)
    member_services.points_earn(member=shop.member, points=100, reference="GIFT")
    order = place(shop, lines=[(TEE, 1)], member=shop.member, coupon_code="FIFTY", points=30)
    assert (order.total, points_of(shop.member), on_hand(shop.tee, shop.warehouse)) == (Decimal(420), 70, (50, 1))

    assert services.orders_cancel_unpaid(now=timezone.now() + timedelta(minutes=10)) == 0
    assert services.orders_cancel_unpaid(now=timezone.now() + timedelta(minutes=31)) == 1

    order.refresh_from_db()
    assert order.status == "cancelled"
    assert on_hand(shop.tee, shop.warehouse) == (50, 0)
    assert points_of(shop.member) == 100
    assert Coupon.objects.get(code="FIFTY").times_used == 0
    assert CouponRedemption.objects.get().status == "reinstated"
    assert events(order)[-1] == "order.cancelled"


def test_a_declined_card_keeps_the_order_waiting_and_another_tender_pays_it(shop):
    order = place(shop, lines=[(CAP, 1)])

    with pytest.raises(ApplicationError) as error:
        services.order_pay(order=order, tenders=[{"tender": "card", "token": "decline"}])
    order.refresh_from_db()
    assert (error.value.status_code, error.value.code) == (402, "payment_declined")
    assert (order.status, order.paid_total) == ("pending_payment", Decimal(0))
    assert Payment.objects.get().status == "failed"

    services.order_pay(order=order, tenders=[{"tender": "jko_pay"}])
    order.refresh_from_db()
    assert (order.status, order.paid_total) == ("paid", Decimal(300))


def test_several_tenders_pay_one_order(shop, clerk_a):
    order = place(
        shop,
        channel=shop.pos,
        fulfilment="counter",
        store=shop.store_a,
        clerk=clerk_a,
        lines=[(JEANS, 1)],
        actor=clerk_a,
    )

    services.order_pay(order=order, tenders=[{"tender": "cash", "amount": "200"}, {"tender": "card"}], actor=clerk_a)

    order.refresh_from_db()
    assert order.status == "completed"  # a counter sale is handed over when paid
    assert sorted(order.payments.values_list("tender", "amount")) == [("card", Decimal(1000)), ("cash", Decimal(200))]
    assert on_hand(shop.jeans, shop.store_a) == (4, 0)


def test_paying_a_cancelled_order_or_too_much_is_refused(shop):
    order = place(shop, lines=[(CAP, 1)])
    with pytest.raises(BusinessRuleError) as too_much:
        services.order_pay(order=order, tenders=[{"tender": "cash", "amount": "301"}])
    services.order_cancel(order=order, reason="changed mind")
    with pytest.raises(ConflictError) as cancelled:
        services.order_pay(order=order, tenders=[{"tender": "card"}])
    assert (too_much.value.code, cancelled.value.code) == ("invalid_amount", "order_not_payable")
    assert not Payment.objects.exists()


def test_illegal_transitions_are_refused(shop):
    order = place(shop, lines=[(CAP, 1)])
    with pytest.raises(ConflictError) as error:
        services.order_set_status(order, "completed")
    assert error.value.code == "illegal_transition"
    assert error.value.details == {"from": "pending_payment", "to": "completed"}


# --- pickup ------------------------------------------------------------------------------------------


def test_pickup_in_store_in_two_batches(shop, clerk_a):
    order = place(shop, fulfilment="pickup", store=shop.store_a, lines=[(TEE, 3)], member=shop.member)
    assert on_hand(shop.tee, shop.store_a) == (5, 3)
    services.order_pay(order=order, tenders=[{"tender": "card"}])
    order.refresh_from_db()
    assert order.status == "ready_for_pickup"
    assert len(order.pickup_code) == 6
    line = order.lines.get()

    with pytest.raises(BusinessRuleError):
        services.order_pickup(
            order=order, actor=clerk_a, pickup_code="000000" if order.pickup_code != "000000" else "111111"
        )
    services.order_pickup(order=order, actor=clerk_a, quantities={line.pk: 2}, pickup_code=order.pickup_code)
    order.refresh_from_db()
    assert order.status == "ready_for_pickup"
    assert on_hand(shop.tee, shop.store_a) == (3, 1)
    services.order_pickup(order=order, actor=clerk_a)
    order.refresh_from_db()
    assert order.status == "completed"
    assert on_hand(shop.tee, shop.store_a) == (2, 0)
    assert order.fulfilments.filter(kind="pickup").count() == 2


def test_pickup_at_a_store_that_lacks_stock_waits_for_the_transfer(shop, manager_b, hq_admin):
    # store B holds nothing: the warehouse sends it, the order is ready when it arrives
    order = place(shop, fulfilment="pickup", store=shop.store_b, lines=[(CAP, 2)])
    transfer = Transfer.objects.get(kind="customer_order")
    assert (transfer.origin, transfer.destination, transfer.status) == (shop.warehouse, shop.store_b, "approved")
    assert on_hand(shop.cap, shop.warehouse) == (50, 2)
    services.order_pay(order=order, tenders=[{"tender": "card"}])
    order.refresh_from_db()
    assert order.status == "fulfilling"

    stock.transfer_ship(transfer=transfer, actor=None)
    assert on_hand(shop.cap, shop.warehouse) == (48, 0)
    stock.transfer_receive(transfer=transfer, actor=manager_b)

    order.refresh_from_db()
    assert order.status == "ready_for_pickup"
    assert on_hand(shop.cap, shop.store_b) == (2, 2)  # arrived and held for the customer
    services.order_pickup(order=order, actor=manager_b, pickup_code=order.pickup_code)
    order.refresh_from_db()
    assert order.status == "completed"
    assert on_hand(shop.cap, shop.store_b) == (0, 0)


def test_a_pickup_not_offered_at_the_store_is_refused(shop, warehouse):
    with pytest.raises(BusinessRuleError) as error:
        place(shop, fulfilment="pickup", store=shop.warehouse, lines=[(CAP, 1)])
    assert error.value.code == "not_a_store"
    assert not Order.objects.exists()


def test_uncollected_pickups_are_cancelled_and_restocked(shop):
    order = place(shop, fulfilment="pickup", store=shop.store_a, lines=[(CAP, 1)])
    services.order_pay(order=order, tenders=[{"tender": "card"}])

    assert services.pickups_expire(now=timezone.now() + timedelta(days=8)) == 1

    order.refresh_from_db()
    assert order.status == "cancelled"
    assert on_hand(shop.cap, shop.store_a) == (5, 0)
    assert order.refunds.get().amount == Decimal(300)


# --- endless aisle -------------------------------------------------------------------------------------


def test_endless_aisle_the_store_orders_from_the_warehouse_and_owns_the_sale(shop, clerk_a):
    order = place(
        shop,
        channel=shop.pos,
        store=shop.store_a,
        clerk=clerk_a,
        actor=clerk_a,
        source=shop.warehouse,
        lines=[(JEANS, 1)],
    )
    services.order_pay(order=order, tenders=[{"tender": "cash"}], actor=clerk_a)
    services.order_ship(order=order, location=shop.warehouse)

    order.refresh_from_db()
    assert (order.store, order.clerk, order.status) == (shop.store_a, clerk_a, "completed")
    assert on_hand(shop.jeans, shop.warehouse) == (49, 0)
    assert on_hand(shop.jeans, shop.store_a) == (5, 0)


# --- returns -----------------------------------------------------------------------------------------


def test_an_online_order_returned_in_a_store_refunds_exactly_what_the_lines_cost(shop, clerk_a):
    shared_coupon("C170", 170)
    member_services.points_earn(member=shop.member, points=100, reference="GIFT")
    order = place(shop, lines=[(TEE, 3), (JEANS, 1)], member=shop.member, coupon_code="C170", points=30)
    services.order_pay(order=order, tenders=[{"tender": "card"}])
    services.order_ship(order=order, location=shop.warehouse)
    order.refresh_from_db()
    tee = order.lines.get(sku=TEE)
    assert order.total == Decimal(2700 - 170 - 30)
    assert points_of(shop.member) == 100 - 30 + 25

    first = services.return_create(
        order=order, lines=[{"line": tee.pk, "quantity": 1}], channel=shop.pos, store=shop.store_a, actor=clerk_a
    )
    second = services.return_create(
        order=order, lines=[{"line": tee.pk, "quantity": 2}], channel=shop.pos, store=shop.store_a, actor=clerk_a
    )

    tee.refresh_from_db()
    assert first.amount + second.amount == tee.net  # the three tees' share of every discount, exactly
    assert tee.refunded_amount == tee.net
    assert on_hand(shop.tee, shop.store_a) == (8, 0)  # back on the store's shelf
    order.refresh_from_db()
    assert order.status == "partially_returned"
    assert order.refunded_total == tee.net
    assert sum(r.amount for r in Refund.objects.filter(order=order)) == tee.net
    assert first.points_given_back + second.points_given_back == tee.points_redeemed
    assert Coupon.objects.get(code="C170").times_used == 1  # part of the order is still kept

    with pytest.raises(ConflictError) as error:
        services.return_create(
            order=order, lines=[{"line": tee.pk, "quantity": 1}], channel=shop.pos, store=shop.store_a, actor=clerk_a
        )
    assert error.value.code == "return_exceeds_bought"

    jeans = order.lines.get(sku=JEANS)
    services.return_create(
        order=order,
        lines=[{"line": jeans.pk, "quantity": 1, "disposition": "damaged"}],
        channel=shop.pos,
        store=shop.store_a,
        actor=clerk_a,
    )
    order.refresh_from_db()
    assert order.status == "returned"
    assert order.refunded_total == order.paid_total
    assert on_hand(shop.jeans, shop.store_a) == (5, 0)  # damaged: not restocked
    assert Coupon.objects.get(code="C170").times_used == 0  # everything came back
    assert points_of(shop.member) == 100  # what was redeemed is back, what was earned is gone
    assert events(order).count("order.returned") == 3


def test_refund_to_store_credit_and_pay_with_it(shop, clerk_a):
    order = place(
        shop,
        channel=shop.pos,
        fulfilment="counter",
        store=shop.store_a,
        clerk=clerk_a,
        actor=clerk_a,
        lines=[(CAP, 1)],
        member=shop.member,
    )
    services.order_pay(order=order, tenders=[{"tender": "cash"}], actor=clerk_a)
    line = order.lines.get()
    services.return_create(
        order=order,
        lines=[{"line": line.pk, "quantity": 1}],
        channel=shop.pos,
        store=shop.store_a,
        refund_to="store_credit",
        actor=clerk_a,
    )
    assert StoreCreditAccount.objects.get(member=shop.member).balance == Decimal(300)

    next_order = place(shop, lines=[(CAP, 1)], member=shop.member)
    services.order_pay(order=next_order, tenders=[{"tender": "store_credit"}])

    next_order.refresh_from_db()
    assert next_order.status == "paid"
    assert StoreCreditAccount.objects.get(member=shop.member).balance == Decimal(0)


def test_a_clerk_cannot_return_into_another_store(shop, clerk_a):
    order = place(shop, lines=[(CAP, 1)])
    services.order_pay(order=order, tenders=[{"tender": "card"}])
    services.order_ship(order=order, location=shop.warehouse)
    from omo.core.errors import PermissionDeniedError

    with pytest.raises(PermissionDeniedError):
        services.return_create(
            order=order,
            lines=[{"line": order.lines.get().pk, "quantity": 1}],
            channel=shop.pos,
            store=shop.store_b,
            actor=clerk_a,
        )
    order.refresh_from_db()
    assert order.status == "completed"


def test_cancelling_an_order_with_stock_on_a_transfer_cancels_the_transfer(shop):
    order = place(shop, fulfilment="pickup", store=shop.store_b, lines=[(CAP, 2)])
    services.order_cancel(order=order)
    assert Transfer.objects.get().status == "cancelled"
    assert on_hand(shop.cap, shop.warehouse) == (50, 0)
    assert not Reservation.objects.filter(status="active").exists()


def test_erasing_a_member_removes_the_delivery_address_and_keeps_the_order(shop, hq_admin):
    from members import privacy

    order = place(shop, lines=[(CAP, 1)], member=shop.member)
    services.order_pay(order=order, tenders=[{"tender": "card"}])

    privacy.member_erase(member=shop.member, actor=hq_admin, reason="PDPA #9")

    order.refresh_from_db()
    assert order.shipping_address == {}
    assert (order.total, order.status, order.member_id) == (Decimal(300), "paid", shop.member.pk)


def test_the_member_export_includes_their_orders(shop):
    from members import privacy

    order = place(shop, lines=[(CAP, 1)], member=shop.member)

    data = privacy.member_export(member=shop.member)

    assert [row["number"] for row in data["other_records"]["orders.order"]] == [order.number]


def test_exchange_for_something_cheaper_gives_the_difference_back(shop, clerk_a):
    order = place(
        shop, channel=shop.pos, fulfilment="counter", store=shop.store_a, clerk=clerk_a, actor=clerk_a, lines=[(TEE, 1)]
    )
    services.order_pay(order=order, tenders=[{"tender": "card"}], actor=clerk_a)
    tee = order.lines.get()

    ret, new = services.order_exchange(
        order=order,
        return_lines=[{"line": tee.pk, "quantity": 1}],
        new_lines=[(CAP, 1)],
        store=shop.store_a,
        actor=clerk_a,
    )

    assert (ret.amount, new.total, new.status, new.exchange_of) == (Decimal(520), Decimal(300), "completed", order)
    assert list(new.payments.values_list("tender", "amount")) == [("exchange", Decimal(300))]
    assert list(order.refunds.values_list("tender", "amount")) == [("card", Decimal(220))]
    assert (on_hand(shop.tee, shop.store_a), on_hand(shop.cap, shop.store_a)) == ((5, 0), (4, 0))


def test_exchange_for_something_dearer_leaves_the_difference_due(shop, clerk_a):
    order = place(
        shop, channel=shop.pos, fulfilment="counter", store=shop.store_a, clerk=clerk_a, actor=clerk_a, lines=[(CAP, 1)]
    )
    services.order_pay(order=order, tenders=[{"tender": "cash"}], actor=clerk_a)

    _ret, new = services.order_exchange(
        order=order,
        return_lines=[{"line": order.lines.get().pk, "quantity": 1}],
        new_lines=[(JEANS, 1)],
        store=shop.store_a,
        actor=clerk_a,
    )
    assert (new.status, new.amount_due) == ("pending_payment", Decimal(900))
    services.order_pay(order=new, tenders=[{"tender": "cash"}], actor=clerk_a)

    new.refresh_from_db()
    order.refresh_from_db()
    assert (new.status, order.status, order.refunds.count()) == ("completed", "returned", 0)


def test_an_exchange_for_goods_out_of_stock_returns_nothing(shop, clerk_a):
    order = place(
        shop, channel=shop.pos, fulfilment="counter", store=shop.store_a, clerk=clerk_a, actor=clerk_a, lines=[(CAP, 1)]
    )
    services.order_pay(order=order, tenders=[{"tender": "cash"}], actor=clerk_a)

    with pytest.raises(ConflictError):
        services.order_exchange(
            order=order,
            return_lines=[{"line": order.lines.get().pk, "quantity": 1}],
            new_lines=[(JEANS, 99)],
            store=shop.store_a,
            actor=clerk_a,
        )

    order.refresh_from_db()
    assert (order.status, order.returns.count(), Order.objects.count()) == ("completed", 0, 1)


def test_a_charge_approved_while_the_order_was_cancelled_is_refunded(shop, monkeypatch):
    from orders import payments

    order = place(shop, lines=[(CAP, 1)])
    real_charge = payments.FakePaymentProvider.charge

    def charge_while_cancelled(self, **kwargs):
        services.order_cancel(order=order, reason="customer left")  # cancelled during the gateway call
        return real_charge(self, **kwargs)

    monkeypatch.setattr(payments.FakePaymentProvider, "charge", charge_while_cancelled)
    services.order_pay(order=order, tenders=[{"tender": "card"}])

    order.refresh_from_db()
    assert (order.status, order.paid_total, order.refunded_total) == ("cancelled", Decimal(300), Decimal(300))
    assert list(order.refunds.values_list("status", flat=True)) == ["done"]


def test_a_retried_order_finds_the_first_even_when_it_took_the_last_unit(shop):
    from catalog.services import price_set
    from tests.factories import make_variant
    from tests.inventory.conftest import receive

    last = make_variant(style_code="LAST")
    price_set(variant=last, channel=shop.web, price=Decimal(10))
    receive(shop.warehouse, last, 1)
    first = place(shop, lines=[("LAST-M", 1)], idempotency_key="web:retry-1")

    again = place(shop, lines=[("LAST-M", 1)], idempotency_key="web:retry-1")  # no stock left: still the same

    assert again.pk == first.pk
    assert Order.objects.count() == 1


def test_the_order_created_event_names_the_order(shop):
    order = place(shop, lines=[(CAP, 1)], member=shop.member)

    event = OutboxEvent.objects.get(event_type="order.created")

    assert (event.aggregate_id, event.payload["number"], event.payload["total"]) == (
        order.number,
        order.number,
        "300.00",
    )
    assert order.number.startswith("WEB-")
    assert Order.objects.get(number=order.number).pk == order.pk
