"""The counter pages through Django's test client: open the shift, scan, find the member, apply a
coupon and points, pay in two tenders, print the receipt; a double submit sells once."""

from decimal import Decimal

import pytest

from members import services as member_services
from orders.models import Order
from pos import services
from pos.models import Shift, ShiftEntry
from tests.orders.conftest import on_hand, shared_coupon


@pytest.fixture
def till(shop):
    return services.register_create(actor=None, store=shop.store_a, code="POS1", name="櫃台 1")


@pytest.fixture
def counter(client, clerk_a):
    client.force_login(clerk_a)
    return client


def test_a_full_counter_sale(shop, till, counter, clerk_a):
    assert "opening_cash" in counter.get(f"/pos/r/{till.pk}/").content.decode()
    counter.post(f"/pos/r/{till.pk}/shift/open/", {"opening_cash": "3000"})
    shared_coupon("TEN", 10)
    member_services.points_earn(member=shop.member, points=50, reference="GIFT")

    counter.post(f"/pos/r/{till.pk}/scan/", {"code": "JEANS-M"}, HTTP_HX_REQUEST="true")
    counter.post(f"/pos/r/{till.pk}/scan/", {"code": shop.tee.barcode or "TEE-M"}, HTTP_HX_REQUEST="true")
    found = counter.post(
        f"/pos/r/{till.pk}/member/", {"phone": "0912-345-678"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "0912-***-678" in found and "林*華" in found
    panel = counter.post(f"/pos/r/{till.pk}/coupon/", {"coupon": "ten", "points": "20"}, HTTP_HX_REQUEST="true")
    assert "NT$ 1690" in panel.content.decode()  # 1200 + 520 - 10 - 20

    sale_id = counter.session[f"pos_cart:{till.pk}"]["sale_id"]
    form = {"sale_id": sale_id, "cash": "1000", "card": "1000"}
    first = counter.post(f"/pos/r/{till.pk}/pay/", form)
    second = counter.post(f"/pos/r/{till.pk}/pay/", form)  # a double click

    order = Order.objects.get()
    assert first.status_code == 302 and second["Location"] == first["Location"]
    assert (order.status, order.total, order.clerk, order.member) == ("completed", Decimal(1690), clerk_a, shop.member)
    assert sorted(order.payments.values_list("tender", "amount")) == [("card", Decimal(1000)), ("cash", Decimal(690))]
    assert ShiftEntry.objects.count() == 2
    assert on_hand(shop.jeans, shop.store_a) == (4, 0)
    receipt = counter.get(first["Location"]).content.decode()
    assert order.number in receipt and 'id="change">310<' in receipt


def test_not_enough_tendered_sells_nothing(shop, till, counter):
    counter.post(f"/pos/r/{till.pk}/shift/open/", {"opening_cash": "0"})
    counter.post(f"/pos/r/{till.pk}/scan/", {"code": "CAP-M"}, HTTP_HX_REQUEST="true")
    sale_id = counter.session[f"pos_cart:{till.pk}"]["sale_id"]

    response = counter.post(f"/pos/r/{till.pk}/pay/", {"sale_id": sale_id, "cash": "100"})

    assert response.status_code == 422
    assert "NT$300 is still due" in response.content.decode()
    assert Order.objects.get().status == "pending_payment"  # held for the retry with more cash
    assert on_hand(shop.cap, shop.store_a) == (5, 1)
    again = counter.post(f"/pos/r/{till.pk}/pay/", {"sale_id": sale_id, "cash": "500"})
    assert again.status_code == 302
    assert Order.objects.get().status == "completed"


def test_another_stores_register_is_not_found(shop, till, client, clerk_b):
    client.force_login(clerk_b)
    assert client.get(f"/pos/r/{till.pk}/").status_code == 404


def test_pickup_counter_wrong_code_and_double_submit(shop, till, counter):
    from orders import services as orders

    order = orders.order_place(channel=shop.web, fulfilment="pickup", store=shop.store_a, lines=[("CAP-M", 2)])
    orders.order_pay(order=order, tenders=[{"tender": "card"}])
    order.refresh_from_db()
    found = counter.get(f"/pos/r/{till.pk}/pickups/", {"q": order.pickup_code}).content.decode()
    assert order.number in found
    line = order.lines.get()

    wrong = counter.post(
        f"/pos/r/{till.pk}/pickups/{order.number}/",
        {
            f"qty-{line.pk}": "1",
            "pickup_code": "000000" if order.pickup_code != "000000" else "111111",
            "batch_id": "b1",
        },
    )
    assert wrong.status_code == 422
    form = {f"qty-{line.pk}": "1", "pickup_code": order.pickup_code, "batch_id": "b2"}
    counter.post(f"/pos/r/{till.pk}/pickups/{order.number}/", form)
    counter.post(f"/pos/r/{till.pk}/pickups/{order.number}/", form)  # the same batch again

    line.refresh_from_db()
    assert line.fulfilled_quantity == 1
    assert on_hand(shop.cap, shop.store_a) == (4, 1)


def test_a_member_registered_at_the_counter_is_put_on_the_sale_and_not_duplicated(shop, till, counter, clerk_a):
    from members.models import Member

    counter.post(f"/pos/r/{till.pk}/shift/open/", {"opening_cash": "0"})
    page = counter.post(
        f"/pos/r/{till.pk}/signup/", {"phone": "0922-000-111", "name": "陳小美", "sms": "1"}, HTTP_HX_REQUEST="true"
    )
    again = counter.post(f"/pos/r/{till.pk}/signup/", {"phone": "0922000111"}, HTTP_HX_REQUEST="true")

    member = Member.objects.get(phone="+886922000111")
    assert (member.registered_store, member.registered_by, member.name) == (shop.store_a, clerk_a, "陳小美")
    assert "陳*美" in page.content.decode() and "陳*美" in again.content.decode()
    assert Member.objects.filter(phone="+886922000111").count() == 1
    assert member.consents.get().granted is True
    bad = counter.post(f"/pos/r/{till.pk}/signup/", {"phone": "12"}, HTTP_HX_REQUEST="true")
    assert "not a valid phone number" in bad.content.decode()


def test_an_online_order_returned_at_the_counter_and_a_cash_refund_in_the_shift(shop, till, counter, clerk_a):
    from orders import services as orders

    services.shift_open(actor=clerk_a, register=till, opening_cash=1000)
    web = orders.order_place(
        channel=shop.web,
        fulfilment="ship",
        lines=[("TEE-M", 2)],
        shipping_address={"name": "林", "phone": "0912345678", "address": "台北"},
    )
    orders.order_pay(order=web, tenders=[{"tender": "card"}])
    orders.order_ship(order=web, location=shop.warehouse)
    line = web.lines.get()

    found = counter.get(f"/pos/r/{till.pk}/returns/", {"order": web.number.lower()})
    assert web.number in found.content.decode()
    form = {
        "order": web.number,
        "form_id": "f1",
        f"qty-{line.pk}": "1",
        f"disp-{line.pk}": "restock",
        "refund_to": "original",
    }
    counter.post(f"/pos/r/{till.pk}/returns/", form)
    counter.post(f"/pos/r/{till.pk}/returns/", form)  # a double submit
    web.refresh_from_db()
    assert (web.status, web.returns.count(), web.refunded_total) == ("partially_returned", 1, Decimal(500))
    assert on_hand(shop.tee, shop.store_a) == (6, 0)
    assert not ShiftEntry.objects.exists()  # the refund went to the card, not out of the drawer

    sale = orders.order_place(
        channel=shop.pos, fulfilment="counter", store=shop.store_a, actor=clerk_a, lines=[("CAP-M", 1)]
    )
    services.counter_sale_pay(actor=clerk_a, register=till, order=sale, tenders=[{"tender": "cash"}])
    cap = sale.lines.get()
    counter.post(
        f"/pos/r/{till.pk}/returns/",
        {"order": sale.number, "form_id": "f2", f"qty-{cap.pk}": "1", f"disp-{cap.pk}": "damaged"},
    )
    assert services.shift_report(Shift.objects.get())["expected_cash"] == "1000.00"  # 1000 + 300 - 300
    too_many = counter.post(f"/pos/r/{till.pk}/returns/", {"order": sale.number, "form_id": "f3", f"qty-{cap.pk}": "1"})
    assert too_many.status_code == 422


def test_quick_clerk_switching_keeps_the_cart(shop, till, counter, clerk_a, store_a):
    from omo.org import services as org
    from omo.org.roles import Role
    from tests.factories import make_staff

    other = make_staff(Role.CLERK, store=store_a, username="a.clerk2").user
    org.staff_pin_set(user=other, pin="5831")
    counter.post(f"/pos/r/{till.pk}/shift/open/", {"opening_cash": "0"})
    counter.post(f"/pos/r/{till.pk}/scan/", {"code": "CAP-M"}, HTTP_HX_REQUEST="true")

    wrong = counter.post(f"/pos/r/{till.pk}/switch/", {"username": "a.clerk2", "pin": "0000"})
    assert wrong.status_code == 403
    switched = counter.post(f"/pos/r/{till.pk}/switch/", {"username": "a.clerk2", "pin": "5831"})
    assert switched.status_code == 302
    sale_id = counter.session[f"pos_cart:{till.pk}"]["sale_id"]
    counter.post(f"/pos/r/{till.pk}/pay/", {"sale_id": sale_id, "cash": "300"})

    order = Order.objects.get()
    assert (order.clerk, order.status) == (other, "completed")  # the sale belongs to the clerk who made it


def test_stock_lookup_and_an_order_for_the_customer_from_the_warehouse(shop, till, counter, clerk_a):
    counter.post(f"/pos/r/{till.pk}/shift/open/", {"opening_cash": "0"})
    page = counter.get(f"/pos/r/{till.pk}/stock/", {"q": "JEANS-M"}).content.decode()
    assert shop.warehouse.code in page and shop.store_a.code in page

    form = {
        "q": "JEANS-M",
        "sku": "JEANS-M",
        "source": shop.warehouse.code,
        "quantity": "1",
        "fulfilment": "pickup",
        "tender": "card",
        "form_id": "a1",
    }
    done = counter.post(f"/pos/r/{till.pk}/stock/", form)
    counter.post(f"/pos/r/{till.pk}/stock/", form)  # a double submit

    order = Order.objects.get()
    assert 'id="placed"' in done.content.decode()
    assert (order.store, order.clerk, order.fulfilment, order.status) == (shop.store_a, clerk_a, "pickup", "fulfilling")
    assert order.payments.get().tender == "card"
    assert on_hand(shop.jeans, shop.warehouse) == (50, 1)  # held at the warehouse, on its way by transfer


def test_replenishment_request_and_receiving_with_a_count(shop, till, counter, hq_admin):
    from inventory import services as stock
    from inventory.models import Transfer

    asked = counter.post(f"/pos/r/{till.pk}/transfers/", {"action": "request", "lines": "CAP-M 4\nTEE-M 2"})
    assert asked.status_code == 200 and 'id="transfer-done"' in asked.content.decode()
    transfer = Transfer.objects.get()
    assert (transfer.origin, transfer.destination, transfer.status) == (shop.warehouse, shop.store_a, "requested")
    stock.transfer_approve(transfer=transfer, actor=hq_admin)
    stock.transfer_ship(transfer=transfer, actor=hq_admin)

    short = counter.post(
        f"/pos/r/{till.pk}/transfers/",
        {"action": "receive", "transfer": transfer.pk, f"count-{shop.cap.pk}": "3", f"count-{shop.tee.pk}": "2"},
    )
    assert short.status_code == 422  # one cap missing and no note
    done = counter.post(
        f"/pos/r/{till.pk}/transfers/",
        {
            "action": "receive",
            "transfer": transfer.pk,
            f"count-{shop.cap.pk}": "3",
            f"note-{shop.cap.pk}": "one missing",
            f"count-{shop.tee.pk}": "2",
        },
    )
    assert done.status_code == 200
    assert on_hand(shop.cap, shop.store_a) == (8, 0)
    assert on_hand(shop.tee, shop.store_a) == (7, 0)
    bad = counter.post(f"/pos/r/{till.pk}/transfers/", {"action": "request", "lines": "CAP-M lots"})
    assert bad.status_code == 422


def test_an_exchange_from_the_returns_page_and_my_performance(shop, till, counter, clerk_a):
    from orders import services as orders

    services.shift_open(actor=clerk_a, register=till, opening_cash=0)
    sale = orders.order_place(
        channel=shop.pos, fulfilment="counter", store=shop.store_a, clerk=clerk_a, actor=clerk_a, lines=[("TEE-M", 1)]
    )
    services.counter_sale_pay(actor=clerk_a, register=till, order=sale, tenders=[{"tender": "cash"}])
    counter.post(f"/pos/r/{till.pk}/scan/", {"code": "JEANS-M"}, HTTP_HX_REQUEST="true")  # what they take instead
    tee = sale.lines.get()

    response = counter.post(f"/pos/r/{till.pk}/exchange/", {"order": sale.number, f"qty-{tee.pk}": "1"})

    new = Order.objects.exclude(pk=sale.pk).get()
    assert response.status_code == 302
    assert (new.exchange_of, new.status, new.total) == (sale, "completed", Decimal(1200))
    assert sorted(new.payments.values_list("tender", "amount")) == [("cash", Decimal(680)), ("exchange", Decimal(520))]
    me = counter.get(f"/pos/r/{till.pk}/me/").content.decode()
    assert 'id="my-sales">2<' in me and 'id="attribution-note"' in me


def test_search_by_name_void_and_line_pay(shop, till, counter):
    counter.post(f"/pos/r/{till.pk}/shift/open/", {"opening_cash": "0"})
    found = counter.post(f"/pos/r/{till.pk}/scan/", {"code": shop.cap.product.name}, HTTP_HX_REQUEST="true")
    assert "CAP-M" in found.content.decode()
    counter.post(f"/pos/r/{till.pk}/void/")
    assert ShiftEntry.objects.get().kind == "void"
    assert services.shift_report(Shift.objects.get())["counts"]["voids"] == 1
    assert counter.session.get(f"pos_cart:{till.pk}") is None

    counter.get(f"/pos/r/{till.pk}/")
    counter.post(f"/pos/r/{till.pk}/scan/", {"code": "CAP-M"}, HTTP_HX_REQUEST="true")
    sale_id = counter.session[f"pos_cart:{till.pk}"]["sale_id"]
    counter.post(f"/pos/r/{till.pk}/pay/", {"sale_id": sale_id, "card": "300", "card_tender": "line_pay"})
    assert Order.objects.get().payments.get().tender == "line_pay"


def test_todays_sales_list_and_a_receipt_printed_again(shop, till, counter, client, clerk_b):
    counter.post(f"/pos/r/{till.pk}/shift/open/", {"opening_cash": "0"})
    counter.post(f"/pos/r/{till.pk}/scan/", {"code": "CAP-M"}, HTTP_HX_REQUEST="true")
    sale_id = counter.session[f"pos_cart:{till.pk}"]["sale_id"]
    paid = counter.post(f"/pos/r/{till.pk}/pay/", {"sale_id": sale_id, "cash": "1000", "card": "0"})
    order = Order.objects.get()
    assert 'id="change">' in counter.get(paid["Location"]).content.decode()

    listed = counter.get(f"/pos/r/{till.pk}/sales/").content.decode()
    assert f"<td>{order.number}</td>" in listed and f"/receipt/{order.number}/?copy=1" in listed
    found = counter.get(f"/pos/r/{till.pk}/sales/", {"q": order.number[-4:]}).content.decode()
    assert f"<td>{order.number}</td>" in found
    assert "No sales found." in counter.get(f"/pos/r/{till.pk}/sales/", {"q": "NO-SUCH"}).content.decode()
    copy = counter.get(f"/pos/r/{till.pk}/receipt/{order.number}/", {"copy": "1"}).content.decode()
    assert 'id="receipt-copy"' in copy and order.number in copy and 'id="change"' not in copy

    # another store's clerk: not their register, and not their order through their own register either
    client.force_login(clerk_b)
    assert client.get(f"/pos/r/{till.pk}/sales/").status_code == 404
    other = services.register_create(actor=None, store=shop.store_b, code="POS9", name="B")
    assert client.get(f"/pos/r/{other.pk}/receipt/{order.number}/", {"copy": "1"}).status_code == 404
    elsewhere = client.get(f"/pos/r/{other.pk}/sales/", {"q": order.number}).content.decode()
    assert f"<td>{order.number}</td>" not in elsewhere and "No sales found." in elsewhere
