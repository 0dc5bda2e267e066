"""Edge cases found in review: merges with a referral between the two halves of one person, points and
rewards reversed after a merge, the lock order of a merge against a first order, erasure across merge
chains, the entry-tier segment and re-run coupon issue jobs."""

import threading
import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from members import coupons, loyalty, merging, privacy, segments, services
from members.models import (
    CouponCampaign,
    CouponIssueJob,
    Member,
    MemberMerge,
    MemberTier,
    ReferralReward,
    Tier,
)
from tests.factories import SalesChannelFactory, points_books, register_member

register = register_member


books_balance = points_books


@pytest.fixture
def pos(db):
    return SalesChannelFactory(code="POS", kind="pos")


@pytest.fixture
def tiers(db):
    return {
        "member": Tier.objects.create(code="MEMBER", name="一般會員", rank=0, min_spend_12m=0),
        "gold": Tier.objects.create(code="GOLD", name="金卡", rank=1, min_spend_12m=Decimal(1000)),
    }


# --- merging ------------------------------------------------------------------------------------------


def test_merge_of_a_member_into_the_member_they_referred_succeeds_and_drops_the_self_referral(hq_admin):
    # given: one person opened a second account with their own referral code
    first = register(phone="0912100001", name="王小明")
    second = register(email="ming2@example.com", referral_code=first.referral_code)
    assert second.referred_by == first

    # when: HQ keeps the second account and folds the first into it (the code handles this case:
    # "a referral between the two halves of one person")
    merging.member_merge(survivor=second, merged=first, actor=hq_admin)

    # then
    second.refresh_from_db()
    first.refresh_from_db()
    assert (second.status, second.referred_by_id, second.phone) == ("active", None, "+886912100001")
    assert (first.status, first.merged_into_id) == ("merged", second.pk)


def test_merge_of_the_referred_account_into_its_referrer_succeeds_and_drops_the_self_referral(hq_admin):
    # given
    first = register(phone="0912100002", name="王小明")
    second = register(email="ming3@example.com", referral_code=first.referral_code)

    # when: the usual direction, the older account survives
    merging.member_merge(survivor=first, merged=second, actor=hq_admin)

    # then
    first.refresh_from_db()
    assert (first.status, first.referred_by_id, first.email) == ("active", None, "ming3@example.com")


def test_points_of_an_order_earned_before_a_merge_can_be_reversed_after_it(hq_admin):
    # given: the duplicate earned 70 points on an order, then was merged
    keep = register(phone="0912100003")
    dup = register(email="dup3@example.com")
    services.points_earn(member=keep, points=100, reference="K")
    services.points_earn(member=dup, points=70, reference="ORDER-9")
    merging.member_merge(survivor=keep, merged=dup, actor=hq_admin)
    assert books_balance(keep) == 170

    # when: the order is returned; the person is now the survivor
    rows = services.points_reverse(member=keep, reference="ORDER-9")

    # then: the 70 points come back out
    assert [(r.kind, r.points) for r in rows] == [("reverse", -70)]
    assert books_balance(keep) == 100


def test_a_referral_reward_is_taken_back_when_the_referrer_was_merged_since(hq_admin, pos, store_a, settings):
    settings.MEMBER_REFERRAL_POINTS = 200
    settings.MEMBER_REFERRAL_WELCOME_POINTS = 0
    # given: R referred N, N's first order paid R 200 points; then R was merged into S
    referrer = register(phone="0912100004")
    friend = register(phone="0912100005", referral_code=referrer.referral_code)
    loyalty.purchase_record(member=friend, reference="FIRST", channel=pos, store=store_a, amount=Decimal(500))
    assert books_balance(referrer) == 200
    survivor = register(email="r.other@example.com")
    merging.member_merge(survivor=survivor, merged=referrer, actor=hq_admin)
    assert books_balance(survivor) == 200

    # when: the first order is refunded in full
    loyalty.purchase_refund(reference="FIRST", amount=Decimal(500))

    # then: the reward is marked reversed AND the 200 points are really taken back
    assert ReferralReward.objects.get(referred=friend).reversed_at is not None
    assert books_balance(survivor) == 0


def test_a_referral_inherited_through_a_merge_does_not_reward_an_existing_customers_next_order(
    hq_admin, pos, store_a, settings
):
    settings.MEMBER_REFERRAL_POINTS = 200
    settings.MEMBER_REFERRAL_WELCOME_POINTS = 100
    # given: a long-standing customer who already bought, and a second account they opened with a
    # friend's referral code (no order on it)
    friend = register(phone="0912100006")
    customer = register(phone="0912100007")
    loyalty.purchase_record(member=customer, reference="OLD-1", channel=pos, store=store_a, amount=Decimal(800))
    second = register(email="second@example.com", referral_code=friend.referral_code)
    merging.member_merge(survivor=customer, merged=second, actor=hq_admin)

    # when: the customer buys again
    loyalty.purchase_record(member=customer, reference="NEW-1", channel=pos, store=store_a, amount=Decimal(300))

    # then: that is not the new member's first paid order: no member-get-member reward
    assert ReferralReward.objects.count() == 0
    assert books_balance(friend) == 0
    assert books_balance(customer) == 0


def test_a_merge_re_evaluates_the_tier_on_the_combined_spend(hq_admin, pos, store_a, tiers):
    # given: each account spent 600; GOLD needs 1000 in 12 months
    keep = register(phone="0912100008")
    dup = register(email="dup8@example.com")
    loyalty.purchase_record(member=keep, reference="K-1", channel=pos, store=store_a, amount=Decimal(600))
    loyalty.purchase_record(member=dup, reference="D-1", channel=pos, store=store_a, amount=Decimal(600))

    # when
    merging.member_merge(survivor=keep, merged=dup, actor=hq_admin)

    # then: one person with 1200 of spend is GOLD
    assert loyalty.rolling_spend(member=keep) == Decimal(1200)
    assert MemberTier.objects.get(member=keep).tier == tiers["gold"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_merge_and_the_first_order_of_a_member_referred_by_the_merged_one_do_not_deadlock(
    require_postgres, hq_admin, pos, store_a, settings
):
    settings.MEMBER_REFERRAL_POINTS = 200
    settings.MEMBER_REFERRAL_WELCOME_POINTS = 0
    # given: X referred N; HQ folds X into R while N pays their first order, and X's row is busy
    # (say X is redeeming points) when both start, so both queue behind it
    keep = register(phone="0912100009")
    referrer = register(email="x@example.com")
    friend = register(phone="0912100010", referral_code=referrer.referral_code)
    errors: list[BaseException] = []
    busy = threading.Event()
    release = threading.Event()

    def hold_referrer():
        try:
            with transaction.atomic():
                Member.objects.select_for_update().get(pk=referrer.pk)
                busy.set()
                release.wait(10)
        finally:
            connection.close()

    def first_order():
        try:
            busy.wait(5)
            loyalty.purchase_record(member=friend, reference="FIRST", channel=pos, store=store_a, amount=Decimal(500))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    def merge():
        try:
            busy.wait(5)
            merging.member_merge(survivor=keep, merged=referrer, actor=hq_admin)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_referrer)
    holder.start()
    busy.wait(5)
    threads = [threading.Thread(target=first_order), threading.Thread(target=merge)]
    for t in threads:
        t.start()
    time.sleep(0.7)  # both are now waiting for the referrer's row
    release.set()
    for t in [holder, *threads]:
        t.join(30)

    # then: both succeed, one after the other (no "deadlock detected")
    assert errors == []
    assert MemberMerge.objects.filter(merged=referrer).count() == 1
    assert ReferralReward.objects.filter(referred=friend).count() == 1


# --- PDPA erasure -------------------------------------------------------------------------------------


def test_erasure_removes_the_personal_data_of_every_member_merged_in_a_chain(hq_admin):
    # given: A was merged into B, then B into C; all three are the same person
    a = register(phone="0912100011", name="林美華")
    Member.objects.filter(pk=a.pk).update(birthday=date(1990, 5, 1))
    b = register(email="mei@example.com", name="林美華")
    c = register(identities={"line": "U-mei"}, name="林美華")
    merging.member_merge(survivor=b, merged=a, actor=hq_admin)
    merging.member_merge(survivor=c, merged=b, actor=hq_admin)
    a.refresh_from_db()
    assert a.merged_into == c  # the chain is flattened

    # when: the person asks for erasure
    privacy.member_erase(member=c, actor=hq_admin, reason="PDPA-2026-001")

    # then: nothing identifies them any more, under any of the three numbers
    a.refresh_from_db()
    assert (a.name, a.phone, a.email, a.birthday) == ("", None, None, None)
    assert MemberMerge.objects.get(merged=a).merged_values == {"erased": True}


# --- segments and the coupon issue job --------------------------------------------------------------


def test_the_entry_tier_segment_includes_members_who_have_no_tier_row_yet(tiers):
    # given: a new member (no purchase yet): member_tier() says they are in the entry tier
    newcomer = register(phone="0912100013")
    assert loyalty.member_tier(newcomer) == tiers["member"]

    # when
    matched = list(segments.segment_members({"tiers": ["MEMBER"]}))

    # then
    assert matched == [newcomer]


def test_a_rerun_coupon_issue_job_still_reports_the_coupons_it_issued(hq_admin, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    now = timezone.now()
    campaign = coupons.campaign_create(
        name="回饋",
        discount_type="amount",
        amount=Decimal(50),
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=30),
        code_type=CouponCampaign.Codes.UNIQUE,
    )
    members = [register(phone=f"09121002{n:02d}") for n in range(3)]
    job = CouponIssueJob.objects.create(campaign=campaign, segment={}, created_by=hq_admin)
    coupons.coupon_issue_job_run(job_id=job.pk)
    # the worker was killed after the batches, before the job was marked done; the task runs again
    CouponIssueJob.objects.filter(pk=job.pk).update(status=CouponIssueJob.Status.RUNNING, finished_at=None)

    job = coupons.coupon_issue_job_run(job_id=job.pk)

    assert (job.status, job.matched, job.issued, job.skipped) == ("done", 3, 3, 0)
    assert campaign.coupons.count() == len(members)
