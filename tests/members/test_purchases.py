"""Purchases from every channel feed tiers (rolling 12-month spend), member-get-member rewards and the
OMO segment."""

from datetime import timedelta
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from django.utils import timezone

from members import loyalty, services
from members.models import Member, MemberTier, PointsEntry, Purchase, ReferralReward, Tier, TierChange
from omo.core.errors import ApplicationError, BusinessRuleError, ConflictError
from tests.factories import SalesChannelFactory


@pytest.fixture
def tiers(db):
    return {
        "member": Tier.objects.create(code="MEMBER", name="一般會員", rank=0, min_spend_12m=0),
        "silver": Tier.objects.create(code="SILVER", name="銀卡", rank=1, min_spend_12m=Decimal(10000)),
        "gold": Tier.objects.create(code="GOLD", name="金卡", rank=2, min_spend_12m=Decimal(30000)),
    }


@pytest.fixture
def pos(db):
    return SalesChannelFactory(code="POS", kind="pos")


@pytest.fixture
def web(db):
    return SalesChannelFactory(code="WEB", kind="web")


def register(**kwargs) -> Member:
    return services.member_register(**kwargs).member


def days_ago(n: int):
    return timezone.now() - timedelta(days=n)


def test_a_purchase_upgrades_the_tier_at_once_with_history(tiers, pos, web, store_a):
    member = register(phone="0912000001")
    loyalty.purchase_record(member=member, reference="POS-1", channel=pos, store=store_a, amount=Decimal(6000))
    loyalty.purchase_record(member=member, reference="WEB-1", channel=web, amount=Decimal(4500))

    state = MemberTier.objects.get(member=member)
    assert state.tier == tiers["silver"]
    assert state.valid_until == timezone.localdate() + relativedelta(months=12)
    changes = list(TierChange.objects.filter(member=member).order_by("id").values_list("to_tier__code", "spend_12m"))
    assert changes == [("MEMBER", Decimal("6000.00")), ("SILVER", Decimal("10500.00"))]


def test_spend_older_than_12_months_does_not_count(tiers, pos, store_a):
    member = register(phone="0912000002")
    loyalty.purchase_record(
        member=member, reference="OLD", channel=pos, store=store_a, amount=Decimal(20000), paid_at=days_ago(400)
    )
    loyalty.purchase_record(member=member, reference="NEW", channel=pos, store=store_a, amount=Decimal(3000))

    assert loyalty.rolling_spend(member=member) == Decimal(3000)
    assert MemberTier.objects.get(member=member).tier == tiers["member"]


def test_refunds_reduce_the_rolling_spend_and_cannot_exceed_what_was_paid(tiers, pos, store_a):
    member = register(phone="0912000003")
    loyalty.purchase_record(member=member, reference="R-1", channel=pos, store=store_a, amount=Decimal(1000))

    loyalty.purchase_refund(reference="R-1", amount=Decimal(400))
    with pytest.raises(ConflictError) as error:
        loyalty.purchase_refund(reference="R-1", amount=Decimal(601))

    assert error.value.code == "refund_exceeds_paid"
    assert error.value.details == {"refundable": "600.00"}
    assert Purchase.objects.get(reference="R-1").refunded == Decimal(400)
    assert loyalty.rolling_spend(member=member) == Decimal(600)


def test_recording_the_same_order_twice_changes_nothing(tiers, pos, store_a):
    member = register(phone="0912000004")
    first = loyalty.purchase_record(member=member, reference="DUP", channel=pos, store=store_a, amount=Decimal(500))
    again = loyalty.purchase_record(member=member, reference="DUP", channel=pos, store=store_a, amount=Decimal(500))
    other = register(phone="0912000005")

    with pytest.raises(ConflictError) as error:
        loyalty.purchase_record(member=other, reference="DUP", channel=pos, amount=Decimal(500))

    assert again.pk == first.pk
    assert error.value.code == "purchase_taken"
    assert Purchase.objects.count() == 1


@pytest.mark.parametrize("amount", [Decimal(-1), Decimal("NaN"), 100, 99.5])
def test_bad_amounts_are_refused(tiers, pos, amount):
    member = register(phone="0912000006")
    with pytest.raises(ApplicationError) as error:
        loyalty.purchase_record(member=member, reference="X", channel=pos, amount=amount)
    assert error.value.code == "invalid_amount"
    assert not Purchase.objects.exists()


def test_nightly_job_downgrades_only_when_the_validity_has_ended(tiers, pos, store_a):
    member = register(phone="0912000007")
    loyalty.purchase_record(
        member=member, reference="BIG", channel=pos, store=store_a, amount=Decimal(31000), paid_at=days_ago(300)
    )
    state = MemberTier.objects.get(member=member)
    assert state.tier == tiers["gold"]
    valid_until = state.valid_until

    assert loyalty.tiers_reevaluate_due(today=valid_until) == 0  # still valid on its last day
    assert MemberTier.objects.get(member=member).tier == tiers["gold"]

    later = valid_until + timedelta(days=1)  # the 31000 is now more than 12 months old
    assert loyalty.tiers_reevaluate_due(today=later) == 1
    assert MemberTier.objects.get(member=member).tier == tiers["member"]
    assert TierChange.objects.filter(member=member).order_by("-id").first().reason == "validity_ended"
    assert loyalty.tiers_reevaluate_due(today=later) == 0  # running it again does nothing


def test_the_nightly_job_renews_a_tier_still_earned(tiers, pos, store_a):
    member = register(phone="0912000008")
    loyalty.purchase_record(member=member, reference="S1", channel=pos, store=store_a, amount=Decimal(12000))
    state = MemberTier.objects.get(member=member)
    state.valid_until = timezone.localdate() - timedelta(days=1)
    state.save()

    assert loyalty.tiers_reevaluate_due() == 1

    state.refresh_from_db()
    assert state.tier == tiers["silver"]
    assert state.valid_until > timezone.localdate()


# --- member-get-member ------------------------------------------------------------------------------


def test_the_referrer_is_rewarded_once_on_the_new_members_first_paid_order(tiers, pos, web, store_a, settings):
    settings.MEMBER_REFERRAL_POINTS = 200
    settings.MEMBER_REFERRAL_WELCOME_POINTS = 50
    referrer = register(phone="0912000010")
    friend = register(phone="0912000011", referral_code=referrer.referral_code.lower())
    assert friend.referred_by == referrer

    loyalty.purchase_record(member=friend, reference="F-1", channel=web, amount=Decimal(990))
    loyalty.purchase_record(member=friend, reference="F-2", channel=pos, store=store_a, amount=Decimal(500))

    referrer.refresh_from_db()
    friend.refresh_from_db()
    assert referrer.points_balance == 200
    assert friend.points_balance == 50
    reward = ReferralReward.objects.get()
    assert (reward.referrer, reward.referred, reward.purchase.reference) == (referrer, friend, "F-1")


def test_no_reward_before_a_paid_order_or_for_a_free_one(tiers, pos):
    referrer = register(phone="0912000012")
    friend = register(phone="0912000013", referral_code=referrer.referral_code)

    loyalty.purchase_record(member=friend, reference="FREE", channel=pos, amount=Decimal(0))

    assert not ReferralReward.objects.exists()
    referrer.refresh_from_db()
    assert referrer.points_balance == 0


def test_a_fully_returned_first_order_takes_the_reward_back(tiers, web, settings):
    settings.MEMBER_REFERRAL_POINTS = 200
    settings.MEMBER_REFERRAL_WELCOME_POINTS = 50
    referrer = register(phone="0912000014")
    friend = register(phone="0912000015", referral_code=referrer.referral_code)
    loyalty.purchase_record(member=friend, reference="F-1", channel=web, amount=Decimal(990))

    loyalty.purchase_refund(reference="F-1", amount=Decimal(500))
    referrer.refresh_from_db()
    assert referrer.points_balance == 200  # a partial return keeps the reward
    loyalty.purchase_refund(reference="F-1", amount=Decimal(490))

    referrer.refresh_from_db()
    friend.refresh_from_db()
    assert (referrer.points_balance, friend.points_balance) == (0, 0)
    assert ReferralReward.objects.get().reversed_at is not None
    assert list(PointsEntry.objects.filter(member=referrer).order_by("id").values_list("kind", "points")) == [
        ("earn", 200),
        ("reverse", -200),
    ]


def test_a_clerks_referral_code_records_the_clerk_and_an_unknown_code_is_refused(clerk_a, pos):
    code = clerk_a.staff_profile.referral_code
    member = register(phone="0912000016", referral_code=code)

    with pytest.raises(ApplicationError) as error:
        register(phone="0912000017", referral_code="ZZZZZZZZ")

    assert (member.registered_by, member.referred_by) == (clerk_a, None)
    assert error.value.code == "unknown_referral_code"
    assert not Member.objects.filter(phone="+886912000017").exists()


def test_a_referral_code_does_not_rebind_an_existing_member(tiers):
    referrer = register(phone="0912000018")
    member = register(phone="0912000019")

    again = services.member_register(phone="0912000019", referral_code=referrer.referral_code)

    assert not again.created
    assert Member.objects.get(pk=member.pk).referred_by is None


# --- OMO segment ------------------------------------------------------------------------------------


def test_omo_segment_from_the_channels_bought_in(tiers, pos, web, store_a):
    both, store_only, online_only, none = (register(phone=f"091200002{i}") for i in range(4))
    loyalty.purchase_record(member=both, reference="B1", channel=pos, store=store_a, amount=Decimal(100))
    loyalty.purchase_record(member=both, reference="B2", channel=web, amount=Decimal(100))
    loyalty.purchase_record(member=store_only, reference="S1", channel=pos, store=store_a, amount=Decimal(100))
    loyalty.purchase_record(member=online_only, reference="O1", channel=web, amount=Decimal(100))

    assert [loyalty.omo_segment(member=m) for m in (both, store_only, online_only, none)] == [
        "both",
        "store_only",
        "online_only",
        "none",
    ]


def test_an_inactive_member_cannot_buy(tiers, pos):
    member = register(phone="0912000030")
    Member.objects.filter(pk=member.pk).update(status=Member.Status.ERASED)
    with pytest.raises(BusinessRuleError) as error:
        loyalty.purchase_record(member=member, reference="Z", channel=pos, amount=Decimal(100))
    assert error.value.code == "member_inactive"
