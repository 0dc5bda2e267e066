"""Orders over HTTP: quote, place (idempotent), pay, cancel, pickup, ship, return; scoping of what each
caller sees; bad input answered with a code and nothing changed."""

import threading
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from members import auth
from omo.core.models import IdempotencyKey
from omo.org import services as org
from orders.models import Order
from tests.conftest import client_for
from tests.factories import SalesChannelFactory
from tests.orders.conftest import on_hand

ADDRESS = {"name": "林美華", "phone": "0912345678", "address": "台北市信義區松高路 1 號"}


def frontend(channel, member=None) -> APIClient:
    _credential, key = org.channel_credential_issue(channel=channel, name="test", created_by=None)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key, **({"HTTP_X_MEMBER_TOKEN": auth.member_token(member)} if member else {}))
    return client


def post(client, url, body, key=None):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex)


def test_quote_explains_and_places_nothing(shop):
    web = frontend(shop.web, shop.member)
    response = web.post(
        "/api/v1/orders/quote/", {"lines": [{"sku": "TEE-M", "quantity": 2}], "coupon": "NOPE"}, format="json"
    )
    body = response.json()
    assert response.status_code == 200
    assert (body["total"], body["tax_total"], body["points_to_earn"]) == ("1000.00", "48.00", 10)
    assert body["coupon"]["applies"] is False
    assert body["coupon"]["reasons"][0]["code"] == "coupon_not_found"
    assert not Order.objects.exists()


def test_place_pay_and_read_an_order_with_the_member_token(shop):
    web = frontend(shop.web, shop.member)
    placed = post(
        web,
        "/api/v1/orders/",
        {"lines": [{"sku": "TEE-M", "quantity": 1}], "fulfilment": "ship", "shipping_address": ADDRESS},
    )
    assert placed.status_code == 201, placed.json()
    number = placed.json()["number"]
    paid = post(web, f"/api/v1/orders/{number}/pay/", {"tenders": [{"tender": "card", "token": "tok"}]})
    assert paid.status_code == 200
    assert paid.json()["status"] == "paid"
    assert [h["to_status"] for h in paid.json()["history"]] == ["pending_payment", "paid"]
    mine = web.get("/api/v1/orders/mine/").json()
    assert [o["number"] for o in mine["results"]] == [number]


def test_the_same_idempotency_key_never_places_twice(shop):
    web = frontend(shop.web)
    body = {"lines": [{"sku": "CAP-M", "quantity": 1}], "fulfilment": "ship", "shipping_address": ADDRESS}

    first = post(web, "/api/v1/orders/", body, key="order-1")
    again = post(web, "/api/v1/orders/", body, key="order-1")
    other_body = post(web, "/api/v1/orders/", {**body, "lines": [{"sku": "CAP-M", "quantity": 2}]}, key="order-1")
    missing = web.post("/api/v1/orders/", body, format="json")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["number"] == first.json()["number"]
    assert again["Idempotent-Replayed"] == "true"
    assert (other_body.status_code, other_body.json()["code"]) == (422, "idempotency_key_reused")
    assert (missing.status_code, missing.json()["code"]) == (400, "idempotency_key_required")
    assert Order.objects.count() == 1
    assert on_hand(shop.cap, shop.warehouse) == (50, 1)
    assert IdempotencyKey.objects.count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_concurrent_duplicate_gets_409_and_one_order_is_placed(shop, require_postgres):
    _credential, key = org.channel_credential_issue(channel=shop.web, name="test", created_by=None)
    body = {"lines": [{"sku": "CAP-M", "quantity": 1}], "fulfilment": "ship", "shipping_address": ADDRESS}
    statuses, barrier = [], threading.Barrier(8)

    def call():
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=key)
        barrier.wait()
        try:
            statuses.append(post(client, "/api/v1/orders/", body, key="same-key").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert Order.objects.count() == 1
    assert statuses.count(409) + statuses.count(201) == 8
    assert statuses.count(201) >= 1  # the first, and any that came after it finished (a replay)
    assert on_hand(shop.cap, shop.warehouse) == (50, 1)


def test_a_channel_sees_only_its_orders_and_a_member_all_of_theirs(shop, clerk_a):
    app = SalesChannelFactory(code="APP", kind="app")
    web = frontend(shop.web)
    placed = post(
        web,
        "/api/v1/orders/",
        {"lines": [{"sku": "CAP-M", "quantity": 1}], "fulfilment": "ship", "shipping_address": ADDRESS},
    ).json()
    assert frontend(app).get(f"/api/v1/orders/{placed['number']}/").status_code == 404
    # the member's store purchase shows in their app
    counter = post(
        client_for(clerk_a),
        "/api/v1/orders/",
        {"lines": [{"sku": "CAP-M", "quantity": 1}], "fulfilment": "counter", "member_no": shop.member.member_no},
    )
    assert counter.status_code == 201, counter.json()
    mine = frontend(app, shop.member).get("/api/v1/orders/mine/").json()
    assert [o["channel"] for o in mine["results"]] == ["POS"]


def test_counter_sale_by_a_clerk_then_return_in_another_store_is_refused_for_the_other_stores_clerk(
    shop, clerk_a, clerk_b
):
    clerk = client_for(clerk_a)
    sale = post(
        clerk, "/api/v1/orders/", {"lines": [{"sku": "JEANS-M", "quantity": 1}], "fulfilment": "counter"}
    ).json()
    paid = post(clerk, f"/api/v1/orders/{sale['number']}/pay/", {"tenders": [{"tender": "cash"}]})
    assert paid.json()["status"] == "completed"
    assert client_for(clerk_b).get(f"/api/v1/orders/{sale['number']}/").status_code == 404

    ret = post(clerk, f"/api/v1/orders/{sale['number']}/returns/", {"lines": [{"sku": "JEANS-M", "quantity": 1}]})
    assert ret.status_code == 201
    assert ret.json()["amount"] == "1200.00"
    assert on_hand(shop.jeans, shop.store_a) == (5, 0)


def test_buy_online_return_in_store(shop, clerk_a, hq_admin):
    web = frontend(shop.web, shop.member)
    number = post(
        web,
        "/api/v1/orders/",
        {"lines": [{"sku": "TEE-M", "quantity": 2}], "fulfilment": "ship", "shipping_address": ADDRESS},
    ).json()["number"]
    post(web, f"/api/v1/orders/{number}/pay/", {"tenders": [{"tender": "line_pay"}]})
    shipped = post(
        client_for(hq_admin), f"/api/v1/orders/{number}/ship/", {"location": shop.warehouse.code, "tracking": "TW1"}
    )
    assert shipped.json()["status"] == "completed"

    ret = post(client_for(clerk_a), f"/api/v1/orders/{number}/returns/", {"lines": [{"sku": "TEE-M", "quantity": 1}]})

    assert ret.status_code == 201, ret.json()
    assert (ret.json()["amount"], ret.json()["store"], ret.json()["channel"]) == ("500.00", shop.store_a.code, "POS")
    assert on_hand(shop.tee, shop.store_a) == (6, 0)
    assert web.get(f"/api/v1/orders/{number}/").json()["status"] == "partially_returned"


def test_pickup_status_and_handover(shop, clerk_a):
    web = frontend(shop.web, shop.member)
    number = post(
        web,
        "/api/v1/orders/",
        {"lines": [{"sku": "TEE-M", "quantity": 2}], "fulfilment": "pickup", "store": shop.store_a.code},
    ).json()["number"]
    post(web, f"/api/v1/orders/{number}/pay/", {"tenders": [{"tender": "card"}]})
    status = web.get(f"/api/v1/orders/{number}/pickup/").json()
    assert (status["status"], status["store"]) == ("ready_for_pickup", shop.store_a.code)

    assert post(web, f"/api/v1/orders/{number}/pickup/", {}).status_code == 400  # staff hand goods over
    first = post(
        client_for(clerk_a),
        f"/api/v1/orders/{number}/pickup/",
        {"pickup_code": status["pickup_code"], "lines": [{"sku": "TEE-M", "quantity": 1}]},
    )
    assert first.json()["status"] == "ready_for_pickup"
    rest = post(client_for(clerk_a), f"/api/v1/orders/{number}/pickup/", {"pickup_code": status["pickup_code"]})
    assert rest.json()["status"] == "completed"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            {"lines": [{"sku": "NOPE", "quantity": 1}], "fulfilment": "ship", "shipping_address": ADDRESS},
            400,
            "unknown_sku",
        ),
        (
            {"lines": [{"sku": "TEE-M", "quantity": 0}], "fulfilment": "ship", "shipping_address": ADDRESS},
            400,
            "invalid",
        ),
        ({"lines": [{"sku": "TEE-M", "quantity": 1}], "fulfilment": "ship"}, 400, "address_required"),
        (
            {"lines": [{"sku": "TEE-M", "quantity": 999}], "fulfilment": "ship", "shipping_address": ADDRESS},
            409,
            "insufficient_stock",
        ),
        ({"lines": [{"sku": "TEE-M", "quantity": 1}], "fulfilment": "pickup", "store": "WH-T1"}, 422, "not_a_store"),
        (
            {
                "lines": [{"sku": "TEE-M", "quantity": 1}],
                "fulfilment": "ship",
                "shipping_address": ADDRESS,
                "points": 5,
            },
            422,
            "member_required",
        ),
        (
            {
                "lines": [{"sku": "TEE-M", "quantity": 1}],
                "fulfilment": "ship",
                "shipping_address": ADDRESS,
                "coupon": "NONE",
            },
            404,
            "coupon_not_found",
        ),
    ],
)
def test_bad_orders_are_refused_and_nothing_changes(shop, body, status, code):
    response = post(frontend(shop.web), "/api/v1/orders/", body)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert not Order.objects.exists()
    assert on_hand(shop.tee, shop.warehouse) == (50, 0)


def test_returning_more_than_bought_and_paying_a_cancelled_order(shop):
    web = frontend(shop.web)
    number = post(
        web,
        "/api/v1/orders/",
        {"lines": [{"sku": "CAP-M", "quantity": 1}], "fulfilment": "ship", "shipping_address": ADDRESS},
    ).json()["number"]
    cancelled = post(web, f"/api/v1/orders/{number}/cancel/", {"reason": "mistake"}, key="cancel-1")
    again = post(web, f"/api/v1/orders/{number}/cancel/", {"reason": "mistake"}, key="cancel-1")
    assert (again.status_code, again["Idempotent-Replayed"]) == (200, "true")  # a retried cancel, same answer
    pay = post(web, f"/api/v1/orders/{number}/pay/", {"tenders": [{"tender": "card"}]})
    ret = post(web, f"/api/v1/orders/{number}/returns/", {"lines": [{"sku": "CAP-M", "quantity": 1}]})

    assert cancelled.json()["status"] == "cancelled"
    assert (pay.status_code, pay.json()["code"]) == (409, "order_not_payable")
    assert (ret.status_code, ret.json()["code"]) == (409, "not_returnable")
    assert Decimal(web.get(f"/api/v1/orders/{number}/").json()["paid_total"]) == 0


def test_exchange_at_the_counter(shop, clerk_a):
    clerk = client_for(clerk_a)
    sale = post(clerk, "/api/v1/orders/", {"lines": [{"sku": "TEE-M", "quantity": 1}], "fulfilment": "counter"}).json()
    post(clerk, f"/api/v1/orders/{sale['number']}/pay/", {"tenders": [{"tender": "cash"}]})

    response = post(
        clerk,
        f"/api/v1/orders/{sale['number']}/exchange/",
        {"returns": [{"sku": "TEE-M", "quantity": 1}], "lines": [{"sku": "CAP-M", "quantity": 1}]},
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["ret"]["amount"], body["order"]["status"], body["order"]["total"]) == ("520.00", "completed", "300.00")


def test_pickup_at_a_store_without_stock_through_the_api_with_coupon_and_points(shop, manager_b, hq_admin):
    from members import services as member_services
    from tests.orders.conftest import points_of, shared_coupon

    shared_coupon("SAVE100", 100)
    member_services.points_earn(member=shop.member, points=80, reference="GIFT")
    web = frontend(shop.web, shop.member)
    placed = post(
        web,
        "/api/v1/orders/",
        {
            "lines": [{"sku": "CAP-M", "quantity": 2}],
            "fulfilment": "pickup",
            "store": shop.store_b.code,
            "coupon": "SAVE100",
            "points": 50,
        },
    ).json()
    number = placed["number"]
    assert (placed["total"], placed["points_redeemed"]) == ("450.00", 50)
    assert points_of(shop.member) == 30
    assert on_hand(shop.cap, shop.warehouse) == (50, 2)

    paid = post(web, f"/api/v1/orders/{number}/pay/", {"tenders": [{"tender": "card"}]}).json()
    assert paid["status"] == "fulfilling"  # waiting for the warehouse's transfer
    assert points_of(shop.member) == 34  # 450 / 100 earned

    from inventory.models import Transfer

    transfer = Transfer.objects.get(kind="customer_order")
    assert post(client_for(hq_admin), f"/api/v1/inventory/transfers/{transfer.pk}/ship/", {}).status_code == 200
    assert post(client_for(manager_b), f"/api/v1/inventory/transfers/{transfer.pk}/receive/", {}).status_code == 200
    assert web.get(f"/api/v1/orders/{number}/pickup/").json()["status"] == "ready_for_pickup"
    handed = post(client_for(manager_b), f"/api/v1/orders/{number}/pickup/", {"pickup_code": paid["pickup_code"]})
    assert handed.json()["status"] == "completed"
    assert (on_hand(shop.cap, shop.warehouse), on_hand(shop.cap, shop.store_b)) == ((48, 0), (0, 0))


def test_endless_aisle_through_the_api(shop, clerk_a, hq_admin):
    clerk = client_for(clerk_a)
    placed = post(
        clerk,
        "/api/v1/orders/",
        {
            "lines": [{"sku": "JEANS-M", "quantity": 1}],
            "fulfilment": "ship",
            "source": shop.warehouse.code,
            "shipping_address": ADDRESS,
            "member_no": shop.member.member_no,
        },
    )
    assert placed.status_code == 201, placed.json()
    number = placed.json()["number"]
    assert (placed.json()["store"], placed.json()["channel"]) == (shop.store_a.code, "POS")
    post(clerk, f"/api/v1/orders/{number}/pay/", {"tenders": [{"tender": "card"}]})
    shipped = post(client_for(hq_admin), f"/api/v1/orders/{number}/ship/", {"location": shop.warehouse.code})
    assert shipped.json()["status"] == "completed"
    assert on_hand(shop.jeans, shop.warehouse) == (49, 0)
    # the clerk's store sees it; the member sees it in their app too
    assert clerk.get(f"/api/v1/orders/{number}/").status_code == 200
    app = SalesChannelFactory(code="APP", kind="app")
    assert [o["number"] for o in frontend(app, shop.member).get("/api/v1/orders/mine/").json()["results"]] == [number]


FAST = [
    {"lines": [{"sku": "TEE-M", "quantity": 2}], "fulfilment": "ship", "shipping_address": ADDRESS},
    {
        "lines": [{"sku": " CAP-M ", "quantity": 1}, {"sku": "TEE-M", "quantity": 3}],
        "fulfilment": "pickup",
        "store": "S-A",
        "coupon": "X1",
        "points": 5,
    },
    {"lines": [{"sku": "TEE-M", "quantity": 1}], "fulfilment": "counter", "member_no": "M123", "referral_code": "ABC"},
]
LEFT_TO_THE_SERIALIZER = [
    {"lines": [{"sku": "TEE-M", "quantity": "2"}], "fulfilment": "ship"},  # valid, but a string
    {"lines": [{"sku": "TEE-M", "quantity": 0}], "fulfilment": "ship"},
    {"lines": [{"sku": "TEE-M", "quantity": True}], "fulfilment": "ship"},
    {"lines": [], "fulfilment": "ship"},
    {"lines": [{"sku": "TEE-M", "quantity": 1}], "fulfilment": "teleport"},
    {"lines": [{"sku": "TEE-M", "quantity": 1}], "fulfilment": "ship", "coupon": ""},
    {"lines": [{"sku": "TEE-M", "quantity": 1, "extra": 1}], "fulfilment": "ship"},
    {"lines": [{"sku": "TEE-M", "quantity": 1}], "fulfilment": "ship", "unknown": 1},
]


@pytest.mark.parametrize("body", FAST)
def test_the_fast_body_check_gives_what_the_serializer_gives(body):
    from orders.api.views import OrderListCreateApi, _plain_order_body

    serializer = OrderListCreateApi.InputSerializer(data=body)
    assert serializer.is_valid(), serializer.errors
    expected = dict(serializer.validated_data)
    expected["lines"] = [dict(line) for line in expected["lines"]]

    assert _plain_order_body(body) == expected


@pytest.mark.parametrize("body", LEFT_TO_THE_SERIALIZER)
def test_the_fast_body_check_leaves_anything_unusual_to_the_serializer(body):
    from orders.api.views import _plain_order_body

    assert _plain_order_body(body) is None
