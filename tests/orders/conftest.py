"""A small shop for the orders tests: a warehouse, two stores, the web shop and the POS, three SKUs with
prices on both channels and stock in known places, the loyalty program, and a member."""

from dataclasses import dataclass
from decimal import Decimal

import pytest

from catalog.services import price_set
from inventory.models import ChannelLocation, StockLevel
from members import services as member_services
from members.models import EarnRule, Member, Tier
from omo.org.models import SalesChannel
from orders.payments import FakePaymentProvider
from tests.factories import SalesChannelFactory, make_category, make_variant, points_books
from tests.inventory.conftest import receive


@dataclass
class Shop:
    web: SalesChannel
    pos: SalesChannel
    warehouse: object
    store_a: object
    store_b: object
    tee: object  # NT$500 on the web, NT$520 in store
    jeans: object  # NT$1,200
    cap: object  # NT$300, accessories
    member: Member


@pytest.fixture(autouse=True)
def fake_gateway():
    FakePaymentProvider.calls.clear()
    yield FakePaymentProvider.calls
    FakePaymentProvider.calls.clear()


@pytest.fixture
def shop(warehouse, store_a, store_b) -> Shop:
    web = SalesChannelFactory(code="WEB", kind="web")
    pos = SalesChannelFactory(code="POS", kind="pos")
    ChannelLocation.objects.create(channel=web, location=warehouse, priority=1, ships=True)
    ChannelLocation.objects.create(channel=web, location=store_a, priority=10, ships=True, offers_pickup=True)
    ChannelLocation.objects.create(channel=web, location=store_b, priority=20, ships=False, offers_pickup=True)
    for store in (store_a, store_b):
        ChannelLocation.objects.create(channel=pos, location=store, ships=False)
    tops, bottoms, accessories = (
        make_category("women/tops"),
        make_category("women/bottoms"),
        make_category("accessories"),
    )
    tee = make_variant(style_code="TEE", category=tops)
    jeans = make_variant(style_code="JEANS", category=bottoms)
    cap = make_variant(style_code="CAP", category=accessories)
    for variant, web_price, pos_price in ((tee, 500, 520), (jeans, 1200, 1200), (cap, 300, 300)):
        price_set(variant=variant, channel=web, price=Decimal(web_price))
        price_set(variant=variant, channel=pos, price=Decimal(pos_price))
    for variant in (tee, jeans, cap):
        receive(warehouse, variant, 50)
        receive(store_a, variant, 5)
    Tier.objects.create(code="MEMBER", name="一般會員", rank=0, min_spend_12m=0)
    EarnRule.objects.create(name="NT$100 = 1 點", spend_per_point=Decimal(100))
    member = member_services.member_register(phone="0912345678", name="林美華").member
    return Shop(web, pos, warehouse, store_a, store_b, tee, jeans, cap, member)


def on_hand(variant, location) -> tuple[int, int]:
    """(on hand, reserved) of a SKU at a location."""
    level = StockLevel.objects.filter(variant=variant, location=location).first()
    return (level.on_hand, level.reserved) if level else (0, 0)


points_of = points_books


def shared_coupon(code: str, amount: int, *, min_spend: int = 0):
    """A shared amount-off code valid from yesterday to tomorrow everywhere."""
    from datetime import timedelta

    from django.utils import timezone

    from members import coupons

    now = timezone.now()
    campaign = coupons.campaign_create(
        name=code,
        discount_type="amount",
        amount=Decimal(amount),
        min_spend=Decimal(min_spend),
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=1),
    )
    return coupons.coupon_create_shared(campaign=campaign, code=code)
