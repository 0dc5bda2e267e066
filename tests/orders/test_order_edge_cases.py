"""Edge cases found in review of the orders app: coupons with a minimum spend, member tokens, cash
refunds, idempotency after a crash, stale payments, the refund order, safety stock on arrival, and
transfers cancelled, arriving short or raced with a cancel.

Given / when / then, against the real database; races use real threads with their own connections."""

import contextlib
import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from inventory import services as stock
from inventory.models import Reservation, Transfer
from members import auth
from members import services as member_services
from omo.core.errors import ApplicationError
from omo.core.idempotency import idempotency_keys_purge
from omo.org import services as org
from orders import pricing, services
from orders.models import Order, OrderAllocation, Payment, Refund
from tests.conftest import client_for
from tests.orders.conftest import on_hand, shared_coupon

TEE, JEANS, CAP = "TEE-M", "JEANS-M", "CAP-M"
ADDRESS = {"name": "林美華", "phone": "0912345678", "address": "台北市信義區松高路 1 號"}


def place(shop, **kwargs) -> Order:
    kwargs.setdefault("channel", shop.web)
    kwargs.setdefault("fulfilment", "ship")
    if kwargs["fulfilment"] == "ship":
        kwargs.setdefault("shipping_address", ADDRESS)
    return services.order_place(**kwargs)


def frontend(channel, *, member=None, token=None) -> APIClient:
    _credential, key = org.channel_credential_issue(channel=channel, name="test", created_by=None)
    client = APIClient()
    extra = {}
    if member is not None:
        extra["HTTP_X_MEMBER_TOKEN"] = auth.member_token(member)
    if token is not None:
        extra["HTTP_X_MEMBER_TOKEN"] = token
    client.credentials(HTTP_X_API_KEY=key, **extra)
    return client


def post(client, url, body, key=None):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex)


def counter_sale(shop, clerk, lines, **kwargs) -> Order:
    return place(
        shop,
        channel=shop.pos,
        fulfilment="counter",
        store=shop.store_a,
        clerk=clerk,
        actor=clerk,
        lines=lines,
        **kwargs,
    )


# --- 1. money / coupon --------------------------------------------------------------------------------


def test_a_coupon_with_a_minimum_spend_that_the_quote_applies_can_be_used_to_place_the_order(shop):
    # given a NT$50-off coupon from NT$500, and a NT$500 cart: the quote says it applies
    shared_coupon("MIN500", 50, min_spend=500)
    quote = pricing.quote(channel=shop.web, lines=[(TEE, 1)], coupon_code="MIN500")
    assert (quote.coupon["applies"], quote.total) == (True, Decimal(450))

    # when the order is placed (order_place re-validates the coupon on lines already net of the coupon)
    order = place(shop, lines=[(TEE, 1)], coupon_code="MIN500")

    # then it is placed at the quoted price
    assert (order.total, order.coupon_code) == (Decimal(450), "MIN500")


# --- 2. scoping ---------------------------------------------------------------------------------------


def test_an_invalid_member_token_does_not_widen_reads_to_every_order_of_the_channel(shop):
    # given another customer's order on the web channel
    other = member_services.member_register(phone="0922333444", name="王小明").member
    theirs = place(shop, lines=[(CAP, 1)], member=other)

    # when the member app calls with an expired / forged member token
    app = frontend(shop.web, token="not-a-valid-token")
    listed = app.get("/api/v1/orders/")
    detail = app.get(f"/api/v1/orders/{theirs.number}/")

    # then it is refused as placing an order with that token is, not answered with the whole channel
    # (today: 200 with every order of the channel, and the other member's order with its address)
    assert listed.status_code == 400, [o["number"] for o in listed.json()]
    assert detail.status_code in (400, 404), detail.json().get("shipping_address")


def test_a_frontend_return_of_a_cash_sale_does_not_record_a_cash_refund_nobody_handed_over(shop, clerk_a):
    # given a member's counter sale paid in cash at store A
    sale = counter_sale(shop, clerk_a, [(CAP, 1)], member=shop.member)
    services.order_pay(order=sale, tenders=[{"tender": "cash"}], actor=clerk_a)

    # when the member returns it through the web app (their token sees their store orders)
    response = post(
        frontend(shop.web, member=shop.member),
        f"/api/v1/orders/{sale.number}/returns/",
        {"lines": [{"sku": CAP, "quantity": 1}]},
    )

    # then no "done" cash refund is booked by a web channel (no till was opened)
    assert list(Refund.objects.filter(order=sale, tender="cash").values_list("status", "amount")) == [], (
        response.status_code,
        response.json(),
    )


# --- 3. idempotency -----------------------------------------------------------------------------------


def test_a_reused_idempotency_key_never_returns_another_members_order(shop):
    # given member A placed an order with key "k1" through the web app, and the kept answers were purged
    a = frontend(shop.web, member=shop.member)
    first = post(
        a,
        "/api/v1/orders/",
        {"lines": [{"sku": CAP, "quantity": 1}], "fulfilment": "ship", "shipping_address": ADDRESS},
        key="k1",
    )
    assert first.status_code == 201
    idempotency_keys_purge(now=timezone.now() + timedelta(hours=49))

    # when member B (same app, same channel key) happens to send the same key for their own cart
    other = member_services.member_register(phone="0922333444", name="王小明").member
    second = post(
        frontend(shop.web, member=other),
        "/api/v1/orders/",
        {"lines": [{"sku": TEE, "quantity": 2}], "fulfilment": "ship", "shipping_address": ADDRESS},
        key="k1",
    )

    # then B never receives A's order (address, phone and all)
    assert second.json().get("number") != first.json()["number"]
    assert second.json().get("member") in (None, other.member_no)


def test_the_payment_service_is_idempotent_on_its_own_key(shop, clerk_a):
    # given a NT$1,200 counter sale paid NT$200 in cash with a key
    sale = counter_sale(shop, clerk_a, [(JEANS, 1)])
    services.order_pay(
        order=sale, tenders=[{"tender": "cash", "amount": "200"}], actor=clerk_a, idempotency_key="user:1:pay-1"
    )

    # when the same call is retried (a crash before the API kept its answer): payments are keyed
    # "<key>:0" but the check looks for "<key>", so the retry inserts a duplicate key
    again = services.order_pay(
        order=sale, tenders=[{"tender": "cash", "amount": "200"}], actor=clerk_a, idempotency_key="user:1:pay-1"
    )

    # then it answers the order as it is, one NT$200 payment
    assert (again.paid_total, Payment.objects.filter(order=sale).count()) == (Decimal(200), 1)


def test_a_pickup_batch_retried_after_a_crash_is_not_handed_over_twice(shop, clerk_a, monkeypatch):
    # given a paid pickup order of 4 tees at store A
    order = place(shop, fulfilment="pickup", store=shop.store_a, lines=[(TEE, 4)])
    services.order_pay(order=order, tenders=[{"tender": "card"}])
    clerk = client_for(clerk_a)
    clerk.raise_request_exception = False
    from datetime import timedelta

    from django.utils import timezone

    from omo.core import idempotency
    from omo.core.models import IdempotencyKey

    real_keep = idempotency._keep_answer
    calls = []

    def dies_once(*args):  # the process dies after the service committed, before the answer is kept
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("worker killed")
        return real_keep(*args)

    monkeypatch.setattr(idempotency, "_keep_answer", dies_once)
    body = {"lines": [{"sku": TEE, "quantity": 2}]}

    # when the first batch of 2 is handed over and the POS retries with the same key
    assert post(clerk, f"/api/v1/orders/{order.number}/pickup/", body, key="batch-1").status_code == 500
    soon = post(clerk, f"/api/v1/orders/{order.number}/pickup/", body, key="batch-1")
    assert (soon.status_code, soon.json()["code"]) == (409, "idempotency_in_progress")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=1))  # the claim went stale
    later = post(clerk, f"/api/v1/orders/{order.number}/pickup/", body, key="batch-1")

    # then 2 tees left the store, not 4: the service found the batch it had already handed over
    assert later.status_code == 200
    assert order.lines.get().fulfilled_quantity == 2
    assert on_hand(shop.tee, shop.store_a) == (3, 2)


class Crash(BaseException):
    """The web worker dies during the gateway call (timeout, OOM kill, deploy)."""


def test_a_payment_left_pending_by_a_crash_does_not_hold_the_order_and_its_stock_forever(shop, monkeypatch):
    # given an order whose card charge never came back (the process died during the gateway call)
    from orders import payments

    order = place(shop, lines=[(CAP, 1)])

    def dies(self, **kwargs):
        raise Crash

    monkeypatch.setattr(payments.FakePaymentProvider, "charge", dies)
    with pytest.raises(Crash):
        services.order_pay(order=order, tenders=[{"tender": "card"}])
    monkeypatch.undo()
    assert Payment.objects.get(order=order).status == "pending"

    # when a day has passed and the unpaid-orders job runs
    services.orders_cancel_unpaid(now=timezone.now() + timedelta(days=1))

    # then the order does not keep the stock forever (it cannot be paid either: the pending payment
    # counts as taken, so any other tender is "invalid_amount")
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert on_hand(shop.cap, shop.warehouse) == (50, 0)


def test_a_partial_return_is_refunded_to_the_card_before_cash(shop, clerk_a):
    # given two jeans (NT$2,400) paid NT$2,000 by card, then NT$400 in cash
    sale = counter_sale(shop, clerk_a, [(JEANS, 2)])
    services.order_pay(order=sale, tenders=[{"tender": "card", "amount": "2000"}, {"tender": "cash"}], actor=clerk_a)
    line = sale.lines.get()

    # when one pair comes back
    services.return_create(
        order=sale, lines=[{"line": line.pk, "quantity": 1}], channel=shop.pos, store=shop.store_a, actor=clerk_a
    )

    # then the NT$1,200 goes back to the card ("store credit and gateway tenders before cash"), not
    # NT$400 cash out of the till plus NT$800 to the card
    assert sorted(Refund.objects.filter(order=sale).values_list("tender", "amount")) == [("card", Decimal(1200))]


# --- 5. stock on the transfer paths -------------------------------------------------------------------


def test_a_customer_order_transfer_can_be_received_at_a_store_with_safety_stock(shop, manager_b):
    # given store B keeps a safety stock of 2 caps, and a pickup order of 2 caps there (B has none:
    # they come from the warehouse)
    stock.stock_level_configure(variant=shop.cap, location=shop.store_b, actor=None, safety_stock=2)
    order = place(shop, fulfilment="pickup", store=shop.store_b, lines=[(CAP, 2)])
    services.order_pay(order=order, tenders=[{"tender": "card"}])
    transfer = Transfer.objects.get(kind="customer_order")
    stock.transfer_ship(transfer=transfer, actor=None)

    # when the goods arrive (the hold at B is created with require_atp, which the safety stock fails)
    stock.transfer_receive(transfer=transfer, actor=manager_b)

    # then they are received and held for the customer
    order.refresh_from_db()
    assert order.status == "ready_for_pickup"
    assert on_hand(shop.cap, shop.store_b) == (2, 2)


def test_cancelling_a_customer_order_transfer_does_not_leave_its_stock_reserved(shop, hq_admin):
    # given a pickup order at store B whose 2 caps are held at the warehouse for its transfer
    place(shop, fulfilment="pickup", store=shop.store_b, lines=[(CAP, 2)])
    transfer = Transfer.objects.get(kind="customer_order")
    assert on_hand(shop.cap, shop.warehouse) == (50, 2)

    # when someone cancels the transfer on the inventory side (the transfers API allows it)
    with contextlib.suppress(ApplicationError):  # refusing is a fine fix too
        stock.transfer_cancel(transfer=transfer, actor=hq_admin, reason="truck full")

    # then either the transfer still stands, or the 2 caps are not held at the warehouse for a transfer
    # that will never ship (today: cancelled, still reserved, and the order waits for it for ever)
    transfer.refresh_from_db()
    leaked = Reservation.objects.filter(reference=transfer.reservation_reference, status="active").exists()
    assert not (transfer.status == "cancelled" and leaked), "reservation kept for a cancelled transfer"


def test_a_transfer_arriving_short_does_not_leave_the_order_waiting_on_a_finished_transfer(shop, manager_b):
    # given a paid pickup order of 2 caps at store B, coming from the warehouse
    order = place(shop, fulfilment="pickup", store=shop.store_b, lines=[(CAP, 2)])
    services.order_pay(order=order, tenders=[{"tender": "card"}])
    transfer = Transfer.objects.get(kind="customer_order")
    stock.transfer_ship(transfer=transfer, actor=None)

    # when only 1 arrives
    stock.transfer_receive(transfer=transfer, actor=manager_b, received={shop.cap.pk: (1, "one missing")})

    # then the order is not left "fulfilling" forever on a transfer that will bring nothing more
    # (it cannot be picked up in part, pickups_expire skips it, nothing re-sources the missing unit)
    order.refresh_from_db()
    stuck = OrderAllocation.objects.filter(line__order=order, transfer__status="received").exists()
    assert not (order.status == "fulfilling" and stuck)


# --- 6. races -------------------------------------------------------------------------------------------


def _run_threads(*works) -> list:
    outcomes = [None] * len(works)

    def run(i, work):
        try:
            work()
            outcomes[i] = "ok"
        except ApplicationError as error:
            outcomes[i] = error.code
        except Exception as error:
            outcomes[i] = f"{type(error).__name__}: {str(error).splitlines()[0]}"
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(works)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_cancel_and_the_transfer_receipt_at_the_same_time_do_not_deadlock(
    shop, manager_b, require_postgres, monkeypatch
):
    # given a paid pickup order of 3 caps at store B: 1 held at B, 2 on the way from the warehouse
    from tests.inventory.conftest import receive

    receive(shop.store_b, shop.cap, 1)
    order = place(shop, fulfilment="pickup", store=shop.store_b, lines=[(CAP, 3)])
    services.order_pay(order=order, tenders=[{"tender": "card"}])
    transfer = Transfer.objects.get(kind="customer_order")
    stock.transfer_ship(transfer=transfer, actor=None)

    # when the receipt (stock row of CAP@B, then the order) and a cancel (the order, then the stock row
    # of CAP@B) interleave
    stocked, order_locked = threading.Event(), threading.Event()
    real_stock_in, real_release = stock._stock_in, services._release_everything

    def stock_in_then_wait(*args, **kwargs):
        row = real_stock_in(*args, **kwargs)
        stocked.set()
        order_locked.wait(5)
        return row

    def release_after_signal(order, **kwargs):
        order_locked.set()
        time.sleep(0.3)
        return real_release(order, **kwargs)

    monkeypatch.setattr(stock, "_stock_in", stock_in_then_wait)
    monkeypatch.setattr(services, "_release_everything", release_after_signal)

    def cancel():
        stocked.wait(5)
        services.order_cancel(order=order, reason="changed mind")

    outcomes = _run_threads(lambda: stock.transfer_receive(transfer=transfer, actor=manager_b), cancel)

    # then both finish: the lock order "order, then stock rows" is kept by both
    assert outcomes == ["ok", "ok"], outcomes


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_cancel_and_shipping_the_transfer_at_the_same_time_do_not_deadlock(shop, require_postgres, monkeypatch):
    # given an unpaid pickup order at store B whose caps come by an approved transfer
    order = place(shop, fulfilment="pickup", store=shop.store_b, lines=[(CAP, 2)])
    transfer = Transfer.objects.get(kind="customer_order")

    # when the cancel (reservations, then the transfer row) meets the warehouse shipping it (the
    # transfer row, then the reservations)
    released = threading.Event()
    real_cancel = stock.transfer_cancel

    def cancel_transfer_later(**kwargs):
        released.set()
        time.sleep(0.5)
        return real_cancel(**kwargs)

    monkeypatch.setattr(stock, "transfer_cancel", cancel_transfer_later)

    def ship():
        released.wait(5)
        stock.transfer_ship(transfer=transfer, actor=None)

    outcomes = _run_threads(lambda: services.order_cancel(order=order, reason="changed mind"), ship)

    # then one of them wins cleanly and the other is a 409, never a database deadlock (a 500)
    assert sorted(outcomes) in (["ok", "ok"], ["ok", "transfer_wrong_status"], ["illegal_transition", "ok"]), outcomes
