from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from members import loyalty, services
from members.models import EarnRule, MemberTier, Tier, TierChange
from omo.core.errors import BusinessRuleError
from tests.factories import SalesChannelFactory, make_category, make_variant


@pytest.fixture
def tiers(db):
    return {
        "member": Tier.objects.create(code="MEMBER", name="一般會員", rank=0, min_spend_12m=0, points_multiplier=1),
        "silver": Tier.objects.create(
            code="SILVER",
            name="銀卡",
            rank=1,
            min_spend_12m=Decimal(10000),
            points_multiplier=Decimal("1.2"),
            validity_months=12,
        ),
        "gold": Tier.objects.create(
            code="GOLD",
            name="金卡",
            rank=2,
            min_spend_12m=Decimal(30000),
            points_multiplier=Decimal("1.5"),
            validity_months=12,
        ),
    }


@pytest.fixture
def base_rule(db):
    return EarnRule.objects.create(name="NT$100 = 1 點", spend_per_point=Decimal(100))


@pytest.fixture
def member(db):
    return services.member_register(phone="0912345678").member


def line(variant, amount):
    return loyalty.PurchaseLine(variant, Decimal(amount))


def test_base_rule_earns_one_point_per_100_rounded_down_once(member, tiers, base_rule):
    tee = make_variant(style_code="TEE")

    points = loyalty.points_for_purchase(member=member, channel=None, lines=[line(tee, "590"), line(tee, "250")])

    assert points == 8  # 840 / 100


def test_bonus_rules_by_category_channel_and_date_and_the_tier_multiplier(member, tiers, base_rule):
    web = SalesChannelFactory(code="WEB", kind="web")
    tee = make_variant(style_code="TEE", category=make_category("women/tops"))
    gift = make_variant(style_code="GIFT", category=make_category("gift-cards"))
    double_tops = EarnRule.objects.create(
        name="上衣雙倍",
        multiplier=2,
        starts_at=timezone.now() - timedelta(hours=1),
        ends_at=timezone.now() + timedelta(days=1),
    )
    double_tops.categories.set([tee.product.category.parent])  # "women" and below
    no_gift_cards = EarnRule.objects.create(name="禮物卡不累點", multiplier=0)
    no_gift_cards.categories.set([gift.product.category])
    web_triple = EarnRule.objects.create(name="官網三倍", multiplier=3)
    web_triple.channels.set([web])
    MemberTier.objects.create(member=member, tier=tiers["gold"])

    in_store = loyalty.points_for_purchase(member=member, channel=None, lines=[line(tee, "1000"), line(gift, "500")])
    online = loyalty.points_for_purchase(member=member, channel=web, lines=[line(tee, "1000")])
    tomorrow = loyalty.points_for_purchase(
        member=member, channel=None, lines=[line(tee, "1000")], at=timezone.now() + timedelta(days=2)
    )

    assert in_store == 30  # 1000 x 2 (double tops) x 1.5 (gold) / 100; gift cards earn nothing
    assert online == 45  # the best multiplier wins: 3 (web) x 1.5
    assert tomorrow == 15  # the double-points day is over


def test_no_base_rule_is_a_clear_error(member, tiers):
    with pytest.raises(BusinessRuleError) as error:
        loyalty.points_for_purchase(member=member, channel=None, lines=[])

    assert error.value.code == "no_earn_rule"


def test_tier_upgrades_at_once_holds_for_its_validity_then_downgrades(member, tiers):
    day = date(2026, 1, 10)

    first = loyalty.tier_evaluate(member=member, spend_12m=Decimal(12000), today=day)
    gold = loyalty.tier_evaluate(member=member, spend_12m=Decimal(31000), today=day + timedelta(days=30))
    holds = loyalty.tier_evaluate(member=member, spend_12m=Decimal(5000), today=day + timedelta(days=200))
    after = loyalty.tier_evaluate(member=member, spend_12m=Decimal(12000), today=date(2027, 2, 11))

    assert (first, gold, holds, after) == (tiers["silver"], tiers["gold"], tiers["gold"], tiers["silver"])
    assert list(TierChange.objects.order_by("id").values_list("from_tier__code", "to_tier__code", "reason")) == [
        (None, "SILVER", "upgrade"),
        ("SILVER", "GOLD", "upgrade"),
        ("GOLD", "SILVER", "validity_ended"),
    ]
    assert MemberTier.objects.get(member=member).valid_until == date(2028, 2, 11)


def test_reaching_the_same_tier_again_renews_it_without_a_history_row(member, tiers):
    loyalty.tier_evaluate(member=member, spend_12m=Decimal(12000), today=date(2026, 1, 10))
    loyalty.tier_evaluate(member=member, spend_12m=Decimal(15000), today=date(2026, 6, 1))

    assert MemberTier.objects.get(member=member).valid_until == date(2027, 6, 1)
    assert TierChange.objects.count() == 1
