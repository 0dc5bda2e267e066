"""Orders coming in from a marketplace: the signed webhook places, allocates and pays them at the
marketplace's prices exactly once per marketplace order id (duplicates, replays and concurrent twins
create nothing new), refuses bad signatures and other channels with nothing written, and keeps what it
cannot sell in HQ's review queue until it is retried (after mapping the SKU) or rejected."""

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.services import price_set
from inventory.models import ChannelLocation, StockLevel
from members.models import Member
from omo.core.errors import ApplicationError
from omo.events import signing
from omo.events.models import OutboxEvent
from omo.org import services as org
from omo.org.models import SalesChannel
from omo.org.roles import Role
from orders import inbound, pricing, services
from orders.models import (
    InboundOrder,
    MarketplaceSettings,
    MarketplaceSku,
    Order,
    OrderStatusChange,
    Payment,
    Promotion,
    Tender,
)
from tests.conftest import client_for
from tests.factories import SalesChannelFactory, make_staff, make_variant
from tests.orders.conftest import on_hand, points_of

URL = "/api/v1/orders/inbound/"
ADDRESS = {"name": "林美華", "phone": "0912345678", "address": "台北市信義區松高路 1 號"}


@dataclass
class Market:
    channel: SalesChannel
    settings: MarketplaceSettings
    client: APIClient

    @property
    def secret(self) -> str:
        return self.settings.secret


def key_client(channel) -> APIClient:
    _credential, key = org.channel_credential_issue(channel=channel, name="connector", created_by=None)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    return client


@pytest.fixture
def market(shop, hq_admin) -> Market:
    """A marketplace shipping from the warehouse first, then store A; the tee listed there at NT$500."""
    channel = SalesChannelFactory(code="SHOPEE", kind="marketplace")
    ChannelLocation.objects.create(channel=channel, location=shop.warehouse, priority=1, ships=True)
    ChannelLocation.objects.create(channel=channel, location=shop.store_a, priority=10, ships=True)
    price_set(variant=shop.tee, channel=channel, price=Decimal(500))
    settings_row = inbound.marketplace_settings_create(channel=channel, actor=hq_admin)
    return Market(channel, settings_row, key_client(channel))


def order_body(**changes) -> dict:
    """2 tees at NT$450 and a cap at NT$280 (the marketplace's prices) + NT$60 shipping = NT$1,240."""
    body = {
        "marketplace_order_id": "SP-240501-0001",
        "placed_at": "2026-05-01T10:00:00+08:00",
        "buyer": {"name": "林美華", "phone": "0912-345-678", "email": ""},
        "lines": [
            {"sku": "TEE-M", "quantity": 2, "unit_price": "450"},
            {"sku": "CAP-M", "quantity": 1, "unit_price": "280"},
        ],
        "shipping_fee": "60",
        "shipping_address": ADDRESS,
        "paid_amount": "1240",
        "payment_reference": "SPX-PAY-77",
    }
    body.update(changes)
    return body


def signed(secret: str, body: dict | bytes, *, now: float | None = None) -> tuple[bytes, dict]:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    headers = signing.sign_headers(secret, raw, now=now)
    return raw, {
        "HTTP_X_OMO_TIMESTAMP": headers[signing.TIMESTAMP_HEADER],
        "HTTP_X_OMO_SIGNATURE": headers[signing.SIGNATURE_HEADER],
    }


def send(client: APIClient, raw: bytes, headers: dict):
    return client.post(URL, data=raw, content_type="application/json", **headers)


def post_signed(market: Market, body: dict, **kwargs):
    raw, headers = signed(market.secret, body, **kwargs)
    return send(market.client, raw, headers)


def written() -> dict:
    """What the intake can write, to prove a refused call changed nothing."""
    return {
        "inbound": InboundOrder.objects.count(),
        "orders": Order.objects.count(),
        "payments": Payment.objects.count(),
        "events": OutboxEvent.objects.count(),
        "reserved": sum(StockLevel.objects.values_list("reserved", flat=True)),
    }


# --- the happy path ------------------------------------------------------------------------------------


def test_a_signed_order_is_placed_allocated_and_paid_at_the_marketplace_prices(shop, market):
    Promotion.objects.create(  # our own promotion: never on top of the marketplace's price
        name="10% off everything",
        kind="category_percent",
        percent=Decimal(10),
        starts_at=timezone.now() - timedelta(days=1),
        ends_at=timezone.now() + timedelta(days=1),
    )

    response = post_signed(market, order_body())

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["marketplace_order_id"], body["status"], body["problems"], body["attempts"]) == (
        "SP-240501-0001",
        "placed",
        [],
        1,
    )
    order = Order.objects.get()
    assert body["order"]["number"] == order.number
    assert order.number.startswith("SHOPEE-")
    assert (order.channel, order.fulfilment, order.status, order.member) == (
        market.channel,
        "ship",
        "paid",
        shop.member,
    )
    assert (order.subtotal, order.discount_total, order.shipping_fee, order.total, order.tax_total) == (
        Decimal(1180),
        Decimal(0),
        Decimal(60),
        Decimal(1240),
        Decimal(59),
    )
    assert (order.paid_total, order.points_redeemed, order.coupon_code) == (Decimal(1240), 0, "")
    assert order.shipping_address == {**ADDRESS, "postcode": "", "city": ""}
    lines = {line.sku: line for line in order.lines.all()}
    assert {sku: (x.quantity, x.list_price, x.unit_price, x.discount, x.net, x.tax) for sku, x in lines.items()} == {
        "TEE-M": (2, Decimal(500), Decimal(450), Decimal(0), Decimal(900), Decimal(43)),
        "CAP-M": (1, Decimal(280), Decimal(280), Decimal(0), Decimal(280), Decimal(13)),
    }
    payment = Payment.objects.get()
    assert (payment.tender, payment.amount, payment.status, payment.provider_reference) == (
        "marketplace",
        Decimal(1240),
        "captured",
        "SPX-PAY-77",
    )
    assert on_hand(shop.tee, shop.warehouse) == (50, 2)  # allocated by the channel's priorities
    assert on_hand(shop.cap, shop.warehouse) == (50, 1)
    assert on_hand(shop.tee, shop.store_a) == (5, 0)
    assert (order.points_earned, points_of(shop.member)) == (11, 11)  # NT$1,180 of goods, NT$100 a point
    events = OutboxEvent.objects.filter(aggregate_id=order.number).order_by("id")
    assert [(e.event_type, e.channel_id) for e in events] == [
        ("order.created", market.channel.pk),
        ("order.paid", market.channel.pk),
    ]
    assert list(OrderStatusChange.objects.filter(order=order).values_list("to_status", "by_channel")) == [
        ("pending_payment", market.channel.pk),
        ("paid", market.channel.pk),
    ]
    record = InboundOrder.objects.get()
    assert (record.order, record.status, record.marketplace_placed_at) == (
        order,
        "placed",
        datetime(2026, 5, 1, 2, 0, tzinfo=UTC),
    )


def test_the_same_order_sent_again_answers_200_with_the_first_order_and_creates_nothing(shop, market):
    first = post_signed(market, order_body())
    before = written()
    same_order_other_spelling = order_body(
        paid_amount="1240.00",
        lines=[
            {"unit_price": "450.00", "quantity": 2, "sku": "TEE-M"},
            {"sku": " CAP-M ", "quantity": 1, "unit_price": 280},
        ],
    )

    again = post_signed(market, same_order_other_spelling)

    assert again.status_code == 200, again.json()
    assert again.json()["order"]["number"] == first.json()["order"]["number"]
    assert written() == before
    assert InboundOrder.objects.get().attempts == 1


def test_a_replay_of_the_same_signed_request_creates_nothing_and_a_late_one_is_refused(shop, market):
    raw, headers = signed(market.secret, order_body())
    first = send(market.client, raw, headers)
    before = written()

    replayed = send(market.client, raw, headers)
    _raw, old_headers = signed(market.secret, raw, now=time.time() - 301)
    late = send(market.client, raw, old_headers)

    assert (first.status_code, replayed.status_code) == (201, 200)
    assert replayed.json()["order"]["number"] == first.json()["order"]["number"]
    assert (late.status_code, late.json()["code"]) == (401, "signature_expired")
    assert written() == before


def test_other_contents_under_the_same_marketplace_order_id_are_a_409(shop, market):
    first = post_signed(market, order_body())
    before = written()

    changed = post_signed(
        market,
        order_body(lines=[{"sku": "TEE-M", "quantity": 3, "unit_price": "450"}], paid_amount="1410"),
    )

    assert changed.status_code == 409
    assert changed.json()["code"] == "inbound_order_changed"
    assert changed.json()["details"] == {
        "marketplace_order_id": "SP-240501-0001",
        "status": "placed",
        "order": first.json()["order"]["number"],
    }
    assert written() == before


# --- refused: nothing written --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("how", "code"),
    [
        ("no headers", "signature_missing"),
        ("another secret", "signature_invalid"),
        ("body changed after signing", "signature_invalid"),
        ("signed 10 minutes ago", "signature_expired"),
        ("signed 10 minutes ahead", "signature_expired"),
        ("timestamp not a number", "signature_invalid"),
    ],
)
def test_a_bad_missing_or_expired_signature_is_a_401_and_writes_nothing(shop, market, how, code):
    before = written()
    raw, headers = signed(market.secret, order_body())
    if how == "no headers":
        headers = {}
    elif how == "another secret":
        raw, headers = signed(signing.new_secret(), order_body())
    elif how == "body changed after signing":
        raw = raw.replace(b'"quantity": 2', b'"quantity": 1').replace(b'"1240"', b'"790"')
    elif how == "signed 10 minutes ago":
        raw, headers = signed(market.secret, order_body(), now=time.time() - 600)
    elif how == "signed 10 minutes ahead":
        raw, headers = signed(market.secret, order_body(), now=time.time() + 600)
    else:
        headers["HTTP_X_OMO_TIMESTAMP"] = "yesterday"

    response = send(market.client, raw, headers)

    assert response.status_code == 401
    assert response.json()["code"] == code
    assert written() == before


def test_a_web_shop_key_or_staff_cannot_send_marketplace_orders(shop, market, hq_admin):
    before = written()
    web_secret = signing.new_secret()
    raw, headers = signed(web_secret, order_body())

    from_web = send(key_client(shop.web), raw, headers)
    from_staff = send(client_for(hq_admin), raw, headers)
    anonymous = send(APIClient(), raw, headers)

    assert (from_web.status_code, from_web.json()["code"]) == (403, "not_a_marketplace")
    assert from_staff.status_code == 403
    assert anonymous.status_code == 401
    assert written() == before


def test_a_marketplace_not_set_up_by_hq_is_refused(shop):
    before = written()
    momo = SalesChannelFactory(code="MOMO", kind="marketplace")
    raw, headers = signed(signing.new_secret(), order_body())

    response = send(key_client(momo), raw, headers)

    assert (response.status_code, response.json()["code"]) == (422, "inbound_not_configured")
    assert written() == before


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"paid_amount": "1200"}, 422, "paid_amount_mismatch"),  # the marketplace's money must add up
        ({"lines": []}, 400, "invalid"),
        ({"shipping_address": {"name": "林"}}, 400, "invalid"),
        ({"marketplace_order_id": "has spaces/and slash"}, 400, "invalid"),
        ({"placed_at": "not a date"}, 400, "invalid"),
        ({"shipping_fee": "60.5"}, 400, "invalid_amount"),  # TWD has no cents
    ],
)
def test_a_malformed_order_is_refused_with_nothing_written(shop, market, changes, status, code):
    before = written()
    response = post_signed(market, order_body(**changes))

    assert (response.status_code, response.json()["code"]) == (status, code), response.json()
    assert written() == before


def test_a_body_that_is_not_json_is_a_400(shop, market):
    before = written()
    raw, headers = signed(market.secret, b"{not json")

    response = send(market.client, raw, headers)

    assert (response.status_code, response.json()["code"]) == (400, "invalid_json")
    assert written() == before


# --- the review queue ----------------------------------------------------------------------------------


def test_an_unknown_sku_waits_for_review_then_a_mapping_and_a_retry_place_the_order_once(shop, market, hq_admin):
    before = written()
    body = order_body(
        lines=[
            {"sku": "SHP-RED-TEE-M", "quantity": 2, "unit_price": "450"},
            {"sku": "CAP-M", "quantity": 1, "unit_price": "280"},
        ]
    )

    response = post_signed(market, body)
    again = post_signed(market, body)

    assert (response.status_code, again.status_code) == (202, 202)
    assert response.json()["status"] == "review"
    assert response.json()["order"] is None
    assert [(p["code"], p["details"]) for p in response.json()["problems"]] == [
        ("unknown_sku", {"line": 0, "sku": "SHP-RED-TEE-M"})
    ]
    assert written() == {**before, "inbound": 1}
    record = InboundOrder.objects.get()
    assert (record.status, record.attempts) == ("review", 1)

    MarketplaceSku.objects.create(channel=market.channel, marketplace_sku="SHP-RED-TEE-M", variant=shop.tee)
    retried = inbound.inbound_order_retry(record=record, actor=hq_admin)

    assert (retried.status, retried.problems, retried.attempts, retried.last_attempt_by) == ("placed", [], 2, hq_admin)
    order = Order.objects.get()
    assert retried.order == order
    assert sorted(order.lines.values_list("sku", "quantity", "unit_price")) == [
        ("CAP-M", 1, Decimal(280)),
        ("TEE-M", 2, Decimal(450)),
    ]
    assert (order.status, order.total, order.paid_total) == ("paid", Decimal(1240), Decimal(1240))
    assert on_hand(shop.tee, shop.warehouse) == (50, 2)
    with pytest.raises(ApplicationError) as twice:
        inbound.inbound_order_retry(record=record, actor=hq_admin)
    assert twice.value.code == "inbound_not_in_review"
    sent_again = post_signed(market, body)
    assert (sent_again.status_code, sent_again.json()["order"]["number"]) == (200, order.number)
    assert (Order.objects.count(), Payment.objects.count()) == (1, 1)


def test_inactive_skus_and_missing_stock_are_listed_and_nothing_is_held(shop, market, hq_admin):
    before = written()
    gone = make_variant(style_code="GONE")
    gone.is_active = False
    gone.save()

    inactive = post_signed(
        market,
        order_body(
            marketplace_order_id="SP-1",
            lines=[
                {"sku": "GONE-M", "quantity": 1, "unit_price": "100"},
                {"sku": "NOPE", "quantity": 1, "unit_price": "1"},
            ],
            paid_amount="161",
        ),
    )
    short = post_signed(
        market,
        order_body(
            marketplace_order_id="SP-2",
            lines=[{"sku": "JEANS-M", "quantity": 60, "unit_price": "1000"}],
            paid_amount="60060",
        ),
    )

    assert [(p["code"], p["details"]["sku"]) for p in inactive.json()["problems"]] == [
        ("sku_inactive", "GONE-M"),
        ("unknown_sku", "NOPE"),
    ]
    assert (short.status_code, [p["code"] for p in short.json()["problems"]]) == (202, ["insufficient_stock"])
    assert written() == {**before, "inbound": 2}
    assert on_hand(shop.jeans, shop.warehouse) == (50, 0)

    still = inbound.inbound_order_retry(record=InboundOrder.objects.get(marketplace_order_id="SP-2"), actor=hq_admin)

    assert (still.status, still.attempts, [p["code"] for p in still.problems]) == ("review", 2, ["insufficient_stock"])
    assert Order.objects.count() == 0


def test_reject_records_who_when_and_why_and_ends_the_review(shop, market, hq_admin, clerk_a):
    before = written()
    post_signed(market, order_body(lines=[{"sku": "NOPE", "quantity": 1, "unit_price": "1180"}]))
    record = InboundOrder.objects.get()
    at = timezone.now()

    with pytest.raises(ApplicationError) as no_reason:
        inbound.inbound_order_reject(record=record, actor=hq_admin, reason="  ")
    with pytest.raises(ApplicationError) as not_allowed:
        inbound.inbound_order_reject(record=record, actor=clerk_a, reason="not ours")
    rejected = inbound.inbound_order_reject(record=record, actor=hq_admin, reason="Discontinued style", now=at)

    assert (no_reason.value.code, not_allowed.value.code) == ("reason_required", "permission_denied")
    assert (rejected.status, rejected.rejected_by, rejected.rejected_at, rejected.reject_reason) == (
        "rejected",
        hq_admin,
        at,
        "Discontinued style",
    )
    with pytest.raises(ApplicationError) as retry:
        inbound.inbound_order_retry(record=record, actor=hq_admin)
    assert retry.value.code == "inbound_not_in_review"
    sent_again = post_signed(market, order_body(lines=[{"sku": "NOPE", "quantity": 1, "unit_price": "1180"}]))
    assert (sent_again.status_code, sent_again.json()["status"], sent_again.json()["reject_reason"]) == (
        200,
        "rejected",
        "Discontinued style",
    )
    assert written() == {**before, "inbound": 1}


# --- the buyer, the money, reading back ----------------------------------------------------------------


def test_the_buyer_is_matched_by_phone_then_email_and_never_registered(shop, market):
    by_email = Member.objects.create(member_no="M000000002", email="mei@example.com", referral_code="REFMEI")
    members_before = Member.objects.count()

    masked = post_signed(market, order_body(marketplace_order_id="SP-A", buyer={"phone": "09****678"}))
    email = post_signed(
        market, order_body(marketplace_order_id="SP-B", buyer={"phone": "0987-000-111", "email": "MEI@example.com"})
    )
    nobody = post_signed(market, order_body(marketplace_order_id="SP-C", buyer={"name": "Someone"}))

    assert [r.status_code for r in (masked, email, nobody)] == [201, 201, 201]
    assert [r.json()["order"]["member"] for r in (masked, email, nobody)] == [None, by_email.member_no, None]
    assert Member.objects.count() == members_before


def test_the_marketplace_tender_is_never_taken_through_order_pay(shop):
    order = services.order_place(channel=shop.web, lines=[("CAP-M", 1)], fulfilment="ship", shipping_address=ADDRESS)

    with pytest.raises(ApplicationError) as refused:
        services.order_pay(order=order, tenders=[{"tender": Tender.MARKETPLACE}])

    assert refused.value.code == "invalid_tender"
    order.refresh_from_db()
    assert (order.status, order.paid_total, Payment.objects.count()) == ("pending_payment", Decimal(0), 0)


def test_collected_money_must_be_exactly_what_is_due(shop):
    order = services.order_place(channel=shop.web, lines=[("CAP-M", 1)], fulfilment="ship", shipping_address=ADDRESS)

    with pytest.raises(ApplicationError) as short:
        services.order_record_collected(order=order, tender=Tender.MARKETPLACE, amount=Decimal(299))
    with pytest.raises(ApplicationError) as card:
        services.order_record_collected(order=order, tender=Tender.CARD, amount=Decimal(300))

    assert (short.value.code, card.value.code) == ("invalid_amount", "invalid_tender")
    order.refresh_from_db()
    assert (order.status, Payment.objects.count()) == ("pending_payment", 0)


def test_set_prices_carry_the_shipping_fee_and_its_share_of_tax_and_refuse_cents_and_coupons(shop):
    quote = pricing.quote_at_prices(
        channel=shop.web,
        lines=[("TEE-M", 2), ("CAP-M", 1)],
        prices=pricing.SetPrices({"TEE-M": Decimal(450), "CAP-M": Decimal(280)}, shipping_fee=Decimal(60)),
    )

    assert (quote.subtotal, quote.total, quote.shipping_fee, quote.tax_total, quote.shipping_tax) == (
        Decimal(1180),
        Decimal(1240),
        Decimal(60),
        Decimal(59),
        Decimal(3),
    )
    assert [(line.list_price, line.unit_price, line.tax) for line in quote.lines] == [
        (Decimal(500), Decimal(450), Decimal(43)),
        (Decimal(300), Decimal(280), Decimal(13)),
    ]
    with pytest.raises(ApplicationError) as cents:
        pricing.quote_at_prices(channel=shop.web, lines=[("CAP-M", 1)], prices=pricing.SetPrices({"CAP-M": "99.5"}))
    with pytest.raises(ApplicationError) as unpriced:
        pricing.quote_at_prices(channel=shop.web, lines=[("CAP-M", 1)], prices=pricing.SetPrices({}))
    with pytest.raises(ApplicationError) as coupon:
        services.order_place(
            channel=shop.web,
            lines=[("CAP-M", 1)],
            fulfilment="ship",
            shipping_address=ADDRESS,
            coupon_code="ANY",
            prices=pricing.SetPrices({"CAP-M": Decimal(1)}),
        )
    assert (cents.value.code, unpriced.value.code, coupon.value.code) == (
        "invalid_amount",
        "price_missing",
        "set_prices_take_no_discounts",
    )
    assert Order.objects.count() == 0


def test_a_marketplace_reads_its_own_inbound_orders_only(shop, market):
    post_signed(market, order_body())
    momo = SalesChannelFactory(code="MOMO", kind="marketplace")

    mine = market.client.get(f"{URL}SP-240501-0001/")
    theirs = key_client(momo).get(f"{URL}SP-240501-0001/")
    web = key_client(shop.web).get(f"{URL}SP-240501-0001/")

    assert (mine.status_code, mine.json()["status"], mine.json()["order"]["total"]) == (200, "placed", "1240.00")
    assert (theirs.status_code, theirs.json()["code"]) == (404, "inbound_order_not_found")
    assert (web.status_code, web.json()["code"]) == (403, "not_a_marketplace")


def test_an_erased_member_leaves_no_name_or_address_in_the_records(shop, market, hq_admin):
    from members import privacy

    post_signed(market, order_body())

    privacy.member_erase(member=shop.member, actor=hq_admin, reason="PDPA request 12")

    payload = InboundOrder.objects.get().payload
    assert (payload["buyer"], payload["shipping_address"], payload["paid_amount"]) == ({}, {}, "1240")


# --- secrets -------------------------------------------------------------------------------------------


def test_after_a_rotation_the_old_secret_works_for_a_day_then_only_the_new_one(shop, market, hq_admin):
    old = market.secret

    rotated = inbound.marketplace_secret_rotate(settings_row=market.settings, actor=hq_admin)

    assert rotated.secret != old and rotated.secret.startswith("whsec_")
    assert (rotated.previous_secret, rotated.rotated_by) == (old, hq_admin)
    body = order_body()
    assert post_signed(Market(market.channel, rotated, market.client), body).status_code == 201
    raw, headers = signed(old, body)
    assert send(market.client, raw, headers).status_code == 200  # still accepted: a replay of the same order
    MarketplaceSettings.objects.filter(pk=rotated.pk).update(
        previous_secret_until=timezone.now() - timedelta(seconds=1)
    )
    late = send(market.client, *signed(old, body))
    assert (late.status_code, late.json()["code"]) == (401, "signature_invalid")


def test_only_a_marketplace_channel_gets_inbound_settings(shop, hq_admin, clerk_a):
    with pytest.raises(ApplicationError) as web:
        inbound.marketplace_settings_create(channel=shop.web, actor=hq_admin)
    with pytest.raises(ApplicationError) as clerk:
        inbound.marketplace_settings_create(channel=SalesChannelFactory(code="PC", kind="marketplace"), actor=clerk_a)

    assert (web.value.code, clerk.value.code) == ("not_a_marketplace", "permission_denied")
    assert MarketplaceSettings.objects.count() == 0


# --- the admin review queue ----------------------------------------------------------------------------


def test_hq_works_the_review_queue_in_the_admin(client, shop, market, hq_admin):
    for order_id in ("SP-1", "SP-2"):
        post_signed(
            market,
            order_body(marketplace_order_id=order_id, lines=[{"sku": "SHP-CAP", "quantity": 1, "unit_price": "1180"}]),
        )
    url = reverse("admin:orders_inboundorder_changelist")
    client.force_login(hq_admin)

    queue = client.get(url, {"status": "review"})

    assert queue.status_code == 200
    page = queue.content.decode()
    assert "SP-1" in page and "SP-2" in page and "unknown_sku" in page
    assert reverse("admin:orders_marketplacesku_add") in page  # "map it" link
    sp1, sp2 = (
        InboundOrder.objects.get(marketplace_order_id="SP-1"),
        InboundOrder.objects.get(marketplace_order_id="SP-2"),
    )
    detail = client.get(reverse("admin:orders_inboundorder_change", args=[sp1.pk]))
    assert detail.status_code == 200 and "SHP-CAP" in detail.content.decode()

    MarketplaceSku.objects.create(channel=market.channel, marketplace_sku="SHP-CAP", variant=shop.cap)
    client.post(url, {"action": "retry", "_selected_action": [sp1.pk]})
    asked = client.post(url, {"action": "reject", "_selected_action": [sp2.pk]})
    client.post(url, {"action": "reject", "_selected_action": [sp2.pk], "apply": "1", "reason": "Buyer cancelled"})

    assert asked.status_code == 200 and "Buyer cancelled" not in asked.content.decode()
    sp1.refresh_from_db()
    sp2.refresh_from_db()
    assert (sp1.status, sp1.order.status, sp1.last_attempt_by) == ("placed", "paid", hq_admin)
    assert (sp2.status, sp2.rejected_by, sp2.reject_reason) == ("rejected", hq_admin, "Buyer cancelled")
    assert Order.objects.count() == 1


def test_finance_sees_the_queue_but_cannot_retry_or_reject(client, shop, market):
    post_signed(market, order_body(lines=[{"sku": "NOPE", "quantity": 1, "unit_price": "1180"}]))
    record = InboundOrder.objects.get()
    client.force_login(make_staff(Role.HQ_FINANCE).user)

    listing = client.get(reverse("admin:orders_inboundorder_changelist"))
    client.post(
        reverse("admin:orders_inboundorder_changelist"),
        {"action": "reject", "_selected_action": [record.pk], "apply": "1", "reason": "no"},
    )

    assert listing.status_code == 200
    record.refresh_from_db()
    assert (record.status, record.rejected_by) == ("review", None)


def test_hq_sets_a_marketplace_up_and_rotates_its_secret_in_the_admin(client, shop, hq_admin):
    channel = SalesChannelFactory(code="PCHOME", kind="marketplace")
    client.force_login(hq_admin)

    add_page = client.get(reverse("admin:orders_marketplacesettings_add"))
    client.post(reverse("admin:orders_marketplacesettings_add"), {"channel": channel.pk})
    row = MarketplaceSettings.objects.get(channel=channel)
    first = row.secret
    change_page = client.get(reverse("admin:orders_marketplacesettings_change", args=[row.pk]))
    assert add_page.status_code == 200
    assert change_page.status_code == 200 and first in change_page.content.decode()  # to give the connector
    client.post(
        reverse("admin:orders_marketplacesettings_changelist"),
        {"action": "rotate_secret", "_selected_action": [row.pk]},
    )

    row.refresh_from_db()
    assert first.startswith("whsec_") and row.secret.startswith("whsec_") and row.secret != first
    assert (row.created_by, row.previous_secret, row.rotated_by) == (hq_admin, first, hq_admin)


# --- races (PostgreSQL, real concurrent connections) -----------------------------------------------------


def race(n: int, work) -> Counter:
    outcomes: Counter = Counter()
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait()
            outcomes[work(i)] += 1
        except ApplicationError as error:
            outcomes[error.code] += 1
        except Exception as error:  # counted, so the assertion shows it
            outcomes[type(error).__name__] += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_identical_orders_arriving_at_the_same_moment_create_one_order(shop, market, require_postgres):
    raw, headers = signed(market.secret, order_body())
    keys = [key_client(market.channel) for _ in range(8)]

    outcomes = race(8, lambda i: send(keys[i], raw, headers).status_code)

    assert outcomes == Counter({201: 1, 200: 7})
    assert (InboundOrder.objects.count(), Order.objects.count(), Payment.objects.count()) == (1, 1, 1)
    assert InboundOrder.objects.get().order == Order.objects.get()
    assert on_hand(shop.tee, shop.warehouse) == (50, 2)
    assert on_hand(shop.cap, shop.warehouse) == (50, 1)
    assert OutboxEvent.objects.filter(event_type__in=["order.created", "order.paid"]).count() == 2


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_retries_of_one_order_at_the_same_moment_place_it_once(shop, market, hq_admin, require_postgres):
    inbound.inbound_order_receive(
        channel=market.channel, data=order_body(lines=[{"sku": "SHP-CAP", "quantity": 1, "unit_price": "1180"}])
    )
    MarketplaceSku.objects.create(channel=market.channel, marketplace_sku="SHP-CAP", variant=shop.cap)
    record = InboundOrder.objects.get()

    outcomes = race(6, lambda i: inbound.inbound_order_retry(record=record, actor=hq_admin).status)

    assert outcomes == Counter({"placed": 1, "inbound_not_in_review": 5})
    assert (Order.objects.count(), Payment.objects.count()) == (1, 1)
    assert on_hand(shop.cap, shop.warehouse) == (50, 1)
