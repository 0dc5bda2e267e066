"""One pricing service for every channel: channel prices, automatic promotions, coupon, points, tax."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.services import price_set
from members import services as member_services
from omo.core.errors import ApplicationError, BusinessRuleError, ConflictError
from orders import pricing
from orders.models import Promotion
from tests.orders.conftest import shared_coupon


def promo(kind, *, categories=(), channels=(), **fields) -> Promotion:
    now = timezone.now()
    p = Promotion.objects.create(
        name=fields.pop("name", kind),
        kind=kind,
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=1),
        **fields,
    )
    p.categories.set(categories)
    p.channels.set(channels)
    return p


def test_channel_prices_and_tax_included(shop):
    web = pricing.quote(channel=shop.web, lines=[("TEE-M", 2), ("JEANS-M", 1)])
    pos = pricing.quote(channel=shop.pos, lines=[("TEE-M", 2)])

    assert (web.subtotal, web.total, web.discount_total) == (Decimal(2200), Decimal(2200), Decimal(0))
    assert web.tax_total == Decimal(105)  # 2200 - 2200 / 1.05 = 104.76 -> 105
    assert sum(line.tax for line in web.lines) == web.tax_total
    assert pos.total == Decimal(1040)


def test_sale_price_in_its_window(shop):
    now = timezone.now()
    price_set(
        variant=shop.tee,
        channel=shop.web,
        price=Decimal(500),
        sale_price=Decimal(399),
        sale_starts_at=now - timedelta(hours=1),
        sale_ends_at=now + timedelta(hours=1),
    )

    q = pricing.quote(channel=shop.web, lines=[("TEE-M", 1)])

    assert (q.lines[0].list_price, q.lines[0].unit_price, q.total) == (Decimal(500), Decimal(399), Decimal(399))


def test_promotions_best_line_promotion_then_spend_then_coupon_then_points_all_allocated(shop):
    tops = shop.tee.product.category
    promo("category_percent", name="上衣 8 折", percent=Decimal(20), categories=[tops])
    promo("bundle_percent", name="任選 2 件 9 折", percent=Decimal(10), min_quantity=2)
    promo("spend_amount", name="滿 1500 折 200", amount=Decimal(200), min_spend=Decimal(1500))
    shared_coupon("HELLO100", 100)
    member_services.points_earn(member=shop.member, points=500, reference="GIFT")

    q = pricing.quote(
        channel=shop.web, lines=[("TEE-M", 2), ("JEANS-M", 1)], member=shop.member, coupon_code="hello100", points=50
    )

    tee, jeans = q.lines
    # tee: 20% beats 10% (200 off 1000); jeans: the bundle 10% (120 off 1200)
    assert next((d.label, d.amount) for d in tee.discounts if d.source == "promotion") == ("上衣 8 折", Decimal(200))
    assert next((d.label, d.amount) for d in jeans.discounts if d.source == "promotion") == (
        "任選 2 件 9 折",
        Decimal(120),
    )
    # then 200 off the 1880 left, split 800 : 1080; then the coupon 100; then 50 points (NT$50)
    summary = {(s["source"], s["label"]): s["amount"] for s in q.summary}
    assert summary[("promotion", "滿 1500 折 200")] == Decimal(200)
    assert summary[("coupon", "Coupon HELLO100")] == Decimal(100)
    assert summary[("points", "50 points")] == Decimal(50)
    assert q.total == Decimal(2200 - 200 - 120 - 200 - 100 - 50)
    assert q.discount_total == Decimal(670)
    assert sum(line.net for line in q.lines) == q.total
    assert sum(line.points for line in q.lines) == 50
    assert q.points_to_earn == 15  # NT$1530 / 100


def test_a_quote_explains_a_coupon_that_does_not_apply_and_placing_refuses_it(shop):
    shared_coupon("K1000", 100, min_spend=1000)

    q = pricing.quote(channel=shop.web, lines=[("CAP-M", 1)], coupon_code="K1000")
    with pytest.raises(ConflictError) as error:
        pricing.quote(channel=shop.web, lines=[("CAP-M", 1)], coupon_code="K1000", strict=True)

    assert q.coupon["applies"] is False
    assert [r["code"] for r in q.coupon["reasons"]] == ["below_minimum"]
    assert q.total == Decimal(300)
    assert error.value.code == "coupon_not_applicable"


def test_points_need_a_member_and_cannot_exceed_what_is_held(shop):
    member_services.points_earn(member=shop.member, points=30, reference="GIFT")
    with pytest.raises(BusinessRuleError) as no_member:
        pricing.quote(channel=shop.web, lines=[("CAP-M", 1)], points=10)
    with pytest.raises(ConflictError) as too_many:
        pricing.quote(channel=shop.web, lines=[("CAP-M", 1)], member=shop.member, points=31, strict=True)
    assert (no_member.value.code, too_many.value.code) == ("member_required", "insufficient_points")
    assert too_many.value.details == {"available": 30, "requested": 31}


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        ([("NOPE-1", 1)], "unknown_sku"),
        ([("TEE-M", 0)], "invalid_quantity"),
        ([("TEE-M", -2)], "invalid_quantity"),
        ([], "no_lines"),
    ],
)
def test_bad_carts_are_refused(shop, lines, code):
    with pytest.raises(ApplicationError) as error:
        pricing.quote(channel=shop.web, lines=lines)
    assert error.value.code == code


def test_a_sku_without_a_channel_price_is_not_for_sale(shop):
    from tests.factories import make_variant

    make_variant(style_code="NOPRICE")
    with pytest.raises(BusinessRuleError) as error:
        pricing.quote(channel=shop.web, lines=[("NOPRICE-M", 1)])
    assert (error.value.code, error.value.details) == ("not_for_sale", {"skus": ["NOPRICE-M"]})


@pytest.mark.parametrize(
    ("amount", "weights", "parts"),
    [
        (Decimal(100), [Decimal(300), Decimal(300), Decimal(300)], [Decimal(34), Decimal(33), Decimal(33)]),
        (Decimal(10), [Decimal(3), Decimal(500)], [Decimal(0), Decimal(10)]),
        (Decimal(7), [Decimal(2), Decimal(2)], [Decimal(2), Decimal(2)]),  # never more than a line holds
    ],
)
def test_allocation_adds_up_and_never_exceeds_a_line(amount, weights, parts, settings):
    assert pricing.allocate(amount, weights) == parts
