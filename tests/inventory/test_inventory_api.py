from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog import services as catalog
from inventory import services
from inventory.models import ChannelLocation, Reservation, StockLevel, Transfer
from omo.org import services as org
from tests.conftest import client_for
from tests.factories import SalesChannelFactory, StoreFactory, make_variant
from tests.inventory.conftest import receive


@pytest.fixture
def web(db, warehouse, store_a, store_b):
    channel = SalesChannelFactory(code="WEB", kind="web")
    ChannelLocation.objects.create(channel=channel, location=warehouse, priority=1, ships=True)
    ChannelLocation.objects.create(channel=channel, location=store_a, priority=10, ships=True, offers_pickup=True)
    ChannelLocation.objects.create(channel=channel, location=store_b, priority=20, ships=False, offers_pickup=True)
    return channel


@pytest.fixture
def web_api(web):
    _credential, key = org.channel_credential_issue(channel=web, name="test", created_by=None)
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    return client


def test_availability_of_one_sku_says_where_it_can_be_had(web_api, warehouse, store_a, store_b, shirt):
    receive(warehouse, shirt, 7)
    receive(store_a, shirt, 2)
    receive(store_b, shirt, 1)
    services.stock_level_configure(variant=shirt, location=store_b, actor=None, safety_stock=1)

    body = web_api.get("/api/v1/inventory/availability/SHIRT-M/").json()

    assert body == {
        "sku": "SHIRT-M",
        "total_atp": 9,
        "ship_atp": 9,
        "order_to_store": True,
        "pickup_stores": [{"location": "S-A", "name": "Store A", "atp": 2}],
        "locations": [
            {"location": "S-A", "name": "Store A", "kind": "store", "atp": 2},
            {"location": "WH-T1", "name": "Test warehouse", "kind": "warehouse", "atp": 7},
        ],
    }


def test_endless_aisle_sku_with_no_store_stock_can_still_be_ordered_to_a_store(web_api, warehouse, shirt):
    receive(warehouse, shirt, 3)

    body = web_api.get("/api/v1/inventory/availability/SHIRT-M/").json()

    assert (body["pickup_stores"], body["order_to_store"], body["ship_atp"]) == ([], True, 3)


def test_availability_for_100_skus_is_a_summary_in_two_queries_or_detail_in_three(
    web_api, warehouse, store_a, store_b, db
):
    for n in range(30):
        StoreFactory(code=f"S-X{n:02d}")
    variants = [make_variant(style_code=f"P{n:03d}") for n in range(100)]
    for variant in variants[:20]:
        receive(warehouse, variant, 5)
    receive(store_a, variants[0], 2)
    receive(store_b, variants[0], 1)
    skus = ",".join(v.sku for v in variants)

    with CaptureQueriesContext(connection) as summary_queries:
        summary = web_api.get("/api/v1/inventory/availability/", {"sku": skus})
    with CaptureQueriesContext(connection) as detail_queries:
        detail = web_api.get("/api/v1/inventory/availability/", {"sku": skus, "detail": "1"})

    assert summary.status_code == 200
    assert len(summary.json()) == len(detail.json()) == 100
    assert summary.json()[0] == {
        "sku": "P000-M",
        "total_atp": 8,
        "ship_atp": 7,
        "order_to_store": True,
        "pickup_store_count": 2,
    }
    assert summary.json()[99] == {
        "sku": "P099-M",
        "total_atp": 0,
        "ship_atp": 0,
        "order_to_store": False,
        "pickup_store_count": 0,
    }
    assert [s["location"] for s in detail.json()[0]["pickup_stores"]] == ["S-A", "S-B"]
    # besides the channel key's own lookup and last-use stamp:
    domain = [q for q in summary_queries.captured_queries if "channelcredential" not in q["sql"]]
    detail_domain = [q for q in detail_queries.captured_queries if "channelcredential" not in q["sql"]]
    assert len(domain) == 2, [q["sql"][:80] for q in domain]
    assert len(detail_domain) == 3, [q["sql"][:80] for q in detail_domain]


def test_availability_refuses_unknown_skus_and_too_many(web_api, shirt):
    unknown = web_api.get("/api/v1/inventory/availability/", {"sku": "SHIRT-M,NOPE-1,NOPE-2"})
    too_many = web_api.get("/api/v1/inventory/availability/", {"sku": ",".join(f"S{n}" for n in range(101))})

    assert unknown.status_code == 400
    assert unknown.json()["code"] == "unknown_sku"
    assert unknown.json()["details"] == {"skus": ["NOPE-1", "NOPE-2"]}
    assert too_many.json()["code"] == "too_many_skus"


def test_cart_pickup_lists_stores_holding_the_whole_cart(web_api, store_a, store_b, shirt, db):
    hat = make_variant(style_code="HAT")
    receive(store_a, shirt, 2)
    receive(store_a, hat, 1)
    receive(store_b, shirt, 5)

    response = web_api.post(
        "/api/v1/inventory/availability/cart/",
        {"lines": [{"sku": "SHIRT-M", "quantity": 2}, {"sku": hat.sku, "quantity": 1}]},
        format="json",
    )

    assert response.json() == {"stores": [{"location": "S-A", "name": "Store A"}]}


def test_frontend_reserves_for_delivery_by_the_channel_strategy_and_releases(web_api, warehouse, store_a, shirt):
    receive(warehouse, shirt, 2)
    receive(store_a, shirt, 5)

    created = web_api.post(
        "/api/v1/inventory/reservations/",
        {"reference": "cart-77", "lines": [{"sku": "SHIRT-M", "quantity": 3}]},
        format="json",
    )

    assert created.status_code == 201, created.json()
    assert sorted((r["location"], r["quantity"]) for r in created.json()) == [("S-A", 1), ("WH-T1", 2)]
    assert {r["reference"] for r in created.json()} == {"WEB:cart-77"}
    released = web_api.post("/api/v1/inventory/reservations/release/", {"reference": "cart-77"}, format="json")
    assert released.json() == {"released": 3}
    assert StockLevel.objects.filter(reserved__gt=0).count() == 0


def test_short_stock_over_the_api_is_409_with_the_details_and_nothing_reserved(web_api, warehouse, shirt):
    receive(warehouse, shirt, 1)

    response = web_api.post(
        "/api/v1/inventory/reservations/",
        {"reference": "c1", "lines": [{"sku": "SHIRT-M", "quantity": 2, "location": "WH-T1"}]},
        format="json",
    )

    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_stock"
    assert response.json()["details"] == {
        "lines": [{"sku": "SHIRT-M", "location": "WH-T1", "requested": 2, "available": 1}]
    }
    assert Reservation.objects.count() == 0


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ({"sku": "SHIRT-M", "quantity": 0, "location": "WH-T1"}, "invalid"),
        ({"sku": "SHIRT-M", "quantity": -2, "location": "WH-T1"}, "invalid"),
        ({"sku": "NOPE", "quantity": 1, "location": "WH-T1"}, "unknown_sku"),
        ({"sku": "SHIRT-M", "quantity": 1, "location": "MARS"}, "unknown_location"),
    ],
)
def test_bad_reservation_lines_are_refused_and_change_nothing(web_api, warehouse, shirt, line, code):
    receive(warehouse, shirt, 5)

    response = web_api.post("/api/v1/inventory/reservations/", {"reference": "c", "lines": [line]}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert StockLevel.objects.get().reserved == 0


def test_pickup_reservation_takes_from_the_chosen_store(web_api, warehouse, store_a, shirt):
    receive(warehouse, shirt, 9)
    receive(store_a, shirt, 1)

    response = web_api.post(
        "/api/v1/inventory/reservations/",
        {"reference": "p1", "pickup_store": "S-A", "lines": [{"sku": "SHIRT-M", "quantity": 1}]},
        format="json",
    )

    assert [(r["location"], r["quantity"]) for r in response.json()] == [("S-A", 1)]


def test_one_channel_cannot_release_another_channels_cart(web_api, warehouse, shirt, db):
    receive(warehouse, shirt, 5)
    app = SalesChannelFactory(code="APP", kind="app")
    ChannelLocation.objects.create(channel=app, location=warehouse, priority=1)
    services.reservation_create(lines=[services.StockLine(shirt, warehouse, 2)], reference="APP:cart-1", channel=app)

    response = web_api.post("/api/v1/inventory/reservations/release/", {"reference": "cart-1"}, format="json")

    assert response.json() == {"released": 0}
    assert StockLevel.objects.get().reserved == 2


def test_clerk_sees_own_store_stock_and_movements_only(clerk_a, store_a, store_b, shirt):
    receive(store_a, shirt, 3)
    receive(store_b, shirt, 4)
    api = client_for(clerk_a)

    stock = api.get("/api/v1/inventory/stock/").json()["results"]
    moves = api.get("/api/v1/inventory/movements/").json()["results"]

    assert [(s["location"], s["on_hand"], s["atp"]) for s in stock] == [("S-A", 3, 3)]
    assert [(m["location"], m["quantity"], m["kind"]) for m in moves] == [("S-A", 3, "receipt")]


def test_replenishment_over_the_api_from_request_to_receipt(
    clerk_a, manager_b, hq_admin, warehouse, store_a, store_b, shirt
):
    receive(warehouse, shirt, 10)
    clerk = client_for(clerk_a)

    created = clerk.post(
        "/api/v1/inventory/transfers/",
        {"origin": "WH-T1", "destination": "S-A", "lines": [{"sku": "SHIRT-M", "quantity": 4}]},
        format="json",
    )
    transfer_id = created.json()["id"]
    not_allowed = clerk.post(f"/api/v1/inventory/transfers/{transfer_id}/approve/", {}, format="json")
    other_store = client_for(manager_b).get(f"/api/v1/inventory/transfers/{transfer_id}/")
    hq = client_for(hq_admin)
    hq.post(f"/api/v1/inventory/transfers/{transfer_id}/approve/", {}, format="json")
    hq.post(f"/api/v1/inventory/transfers/{transfer_id}/ship/", {}, format="json")
    short = clerk.post(
        f"/api/v1/inventory/transfers/{transfer_id}/receive/",
        {"lines": [{"sku": "SHIRT-M", "quantity": 3}]},
        format="json",
    )
    received = clerk.post(
        f"/api/v1/inventory/transfers/{transfer_id}/receive/",
        {"lines": [{"sku": "SHIRT-M", "quantity": 3, "note": "one missing"}]},
        format="json",
    )

    assert created.status_code == 201
    assert created.json()["kind"] == "replenishment"
    assert not_allowed.status_code == 403
    assert other_store.status_code == 404
    assert short.status_code == 422 and short.json()["code"] == "discrepancy_note_required"
    assert received.status_code == 200
    assert received.json()["lines"][0]["quantity_received"] == 3
    assert Transfer.objects.get().status == "received"
    assert StockLevel.objects.get(location=store_a).on_hand == 3


def test_transfer_to_the_same_location_is_422(hq_admin, warehouse, shirt):
    response = client_for(hq_admin).post(
        "/api/v1/inventory/transfers/",
        {"origin": "WH-T1", "destination": "WH-T1", "lines": [{"sku": "SHIRT-M", "quantity": 1}]},
        format="json",
    )

    assert response.status_code == 422
    assert response.json()["code"] == "same_location"
    assert Transfer.objects.count() == 0


def test_expiring_lots_report(hq_admin, store_a, cream):
    from django.utils import timezone

    today = timezone.localdate()
    receive(store_a, cream, 2, lot_code="SOON", expiry_date=today + timedelta(days=9))
    receive(store_a, cream, 2, lot_code="LATER", expiry_date=date(today.year + 2, 1, 1))

    body = client_for(hq_admin).get("/api/v1/inventory/lots/expiring/", {"days": 30}).json()

    assert [(row["lot"], row["on_hand"]) for row in body["results"]] == [("SOON", 2)]
    assert client_for(hq_admin).get("/api/v1/inventory/lots/expiring/", {"days": "x"}).json()["code"] == "invalid_days"


def test_catalog_prices_are_set_through_the_service(shirt, web):
    catalog.price_set(variant=shirt, channel=web, price="990", sale_price="790")
    assert shirt.prices.get().current_price() == 790


def test_channel_reserves_only_where_it_is_served_and_picks_up_only_where_offered(web_api, web, warehouse, db):
    far = StoreFactory(code="S-FAR")
    receive(far, make_variant(style_code="FAR"), 3)
    ChannelLocation.objects.filter(channel=web, location__code="S-A").update(offers_pickup=False)

    elsewhere = web_api.post(
        "/api/v1/inventory/reservations/",
        {"reference": "c1", "lines": [{"sku": "FAR-M", "quantity": 1, "location": "S-FAR"}]},
        format="json",
    )
    no_pickup = web_api.post(
        "/api/v1/inventory/reservations/",
        {"reference": "c2", "pickup_store": "S-A", "lines": [{"sku": "FAR-M", "quantity": 1}]},
        format="json",
    )

    assert (elsewhere.status_code, elsewhere.json()["code"]) == (422, "location_not_in_channel")
    assert (no_pickup.status_code, no_pickup.json()["code"]) == (422, "pickup_not_offered")
    assert Reservation.objects.count() == 0


def test_staff_holds_are_their_own(clerk_a, manager_a, store_a, shirt):
    receive(store_a, shirt, 5)
    client_for(clerk_a).post(
        "/api/v1/inventory/reservations/",
        {"reference": "hold-1", "lines": [{"sku": "SHIRT-M", "quantity": 2, "location": "S-A"}]},
        format="json",
    )

    by_other = client_for(manager_a).post(
        "/api/v1/inventory/reservations/release/", {"reference": "hold-1"}, format="json"
    )
    by_owner = client_for(clerk_a).post(
        "/api/v1/inventory/reservations/release/", {"reference": "hold-1"}, format="json"
    )

    assert (by_other.json(), by_owner.json()) == ({"released": 0}, {"released": 2})


def test_clerk_cannot_hold_stock_at_another_store_over_the_api(clerk_a, store_b, shirt):
    receive(store_b, shirt, 5)

    response = client_for(clerk_a).post(
        "/api/v1/inventory/reservations/",
        {"reference": "x", "lines": [{"sku": "SHIRT-M", "quantity": 5, "location": "S-B"}]},
        format="json",
    )

    assert (response.status_code, response.json()["code"]) == (403, "store_out_of_scope")
    assert StockLevel.objects.get(location=store_b).reserved == 0
