"""Bulk issue of a campaign's unique codes to a segment of members, by a Celery job in batches."""

import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from members import coupons, loyalty, segments, services
from members.models import Coupon, CouponCampaign, CouponIssueJob, Member, MemberTier, Tier, WalletCoupon
from omo.core.errors import ApplicationError, BusinessRuleError, PermissionDeniedError
from tests.conftest import client_for
from tests.factories import SalesChannelFactory


def register(**kwargs) -> Member:
    return services.member_register(**kwargs).member


@pytest.fixture
def campaign(db):
    now = timezone.now()
    return coupons.campaign_create(
        name="金卡回饋",
        discount_type="percent",
        percent=Decimal(10),
        max_discount=Decimal(300),
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=30),
        code_type=CouponCampaign.Codes.UNIQUE,
    )


@pytest.fixture
def people(db, store_a, store_b):
    pos, web = SalesChannelFactory(code="POS", kind="pos"), SalesChannelFactory(code="WEB", kind="web")
    Tier.objects.create(code="MEMBER", name="一般", rank=0, min_spend_12m=0)
    Tier.objects.create(code="GOLD", name="金卡", rank=1, min_spend_12m=Decimal(30000))
    both = register(phone="0912000001", consents={"sms": True})
    loyalty.purchase_record(member=both, reference="1", channel=pos, store=store_a, amount=Decimal(31000))
    loyalty.purchase_record(member=both, reference="2", channel=web, amount=Decimal(100))
    store_only = register(phone="0912000002", consents={"sms": True})
    services.consent_record(member=store_only, purpose="sms", granted=False)  # changed their mind
    loyalty.purchase_record(member=store_only, reference="3", channel=pos, store=store_b, amount=Decimal(500))
    online = register(phone="0912000003", store=store_a)
    services.member_update(member=online, birthday=date(1990, 7, 4))
    loyalty.purchase_record(member=online, reference="4", channel=web, amount=Decimal(800))
    nothing = register(phone="0912000004")
    return {"both": both, "store_only": store_only, "online": online, "nothing": nothing}


def nos(queryset) -> set[str]:
    return set(queryset.values_list("member_no", flat=True))


def test_segment_rules(people, store_a):
    p = {k: m.member_no for k, m in people.items()}
    assert nos(segments.segment_members({"omo": "both"})) == {p["both"]}
    assert nos(segments.segment_members({"omo": "store_only"})) == {p["store_only"]}
    assert nos(segments.segment_members({"omo": "online_only"})) == {p["online"]}
    assert nos(segments.segment_members({"omo": "none"})) == {p["nothing"]}
    assert nos(segments.segment_members({"tiers": ["GOLD"]})) == {p["both"]}
    assert nos(segments.segment_members({"consent": "sms"})) == {p["both"]}  # the latest word counts
    assert nos(segments.segment_members({"stores": [store_a.code]})) == {p["both"], p["online"]}
    assert nos(segments.segment_members({"birthday_month": 7})) == {p["online"]}
    assert nos(segments.segment_members({"stores": [store_a.code], "omo": "both"})) == {p["both"]}
    assert segments.segment_members({}).count() == 4


def test_bad_segment_rules_are_all_reported_at_once(db):
    with pytest.raises(ApplicationError) as error:
        segments.segment_clean({"omo": "sometimes", "tiers": ["PLATINUM"], "birthday_month": 13, "colour": "red"})
    assert error.value.code == "invalid_segment"
    assert set(error.value.details["rules"]) == {"omo", "tiers", "birthday_month", "colour"}


def test_issue_job_gives_each_member_of_the_segment_one_code_and_never_twice(
    people, campaign, hq_admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        job = coupons.coupon_issue_job_create(campaign=campaign, segment={"omo": "both"}, actor=hq_admin)
    assert (CouponIssueJob.objects.get(pk=job.pk).status, len(queued)) == ("queued", 1)  # runs after the commit
    queued[0]()
    job.refresh_from_db()
    assert (job.status, job.matched, job.issued, job.skipped) == ("done", 1, 1, 0)

    with django_capture_on_commit_callbacks(execute=True):
        again = coupons.coupon_issue_job_create(campaign=campaign, segment={}, actor=hq_admin)
    again.refresh_from_db()
    assert (again.matched, again.issued, again.skipped) == (4, 3, 1)
    assert Coupon.objects.filter(campaign=campaign).count() == 4
    assert WalletCoupon.objects.filter(coupon__campaign=campaign).count() == 4
    assert set(Coupon.objects.filter(campaign=campaign).values_list("member", flat=True)) == {
        m.pk for m in people.values()
    }

    coupons.coupon_issue_job_run(job_id=again.pk)  # a re-run (a retried task) issues nothing
    assert Coupon.objects.filter(campaign=campaign).count() == 4


def test_issue_job_refusals(people, campaign, hq_admin, clerk_a):
    shared = coupons.campaign_create(
        name="全館",
        discount_type="amount",
        amount=Decimal(50),
        starts_at=timezone.now() - timedelta(days=1),
        ends_at=timezone.now() + timedelta(days=1),
    )
    with pytest.raises(BusinessRuleError) as shared_error:
        coupons.coupon_issue_job_create(campaign=shared, segment={}, actor=hq_admin)
    with pytest.raises(PermissionDeniedError):
        coupons.coupon_issue_job_create(campaign=campaign, segment={}, actor=clerk_a)
    with pytest.raises(ApplicationError) as bad_segment:
        coupons.coupon_issue_job_create(campaign=campaign, segment={"omo": "x"}, actor=hq_admin)

    assert (shared_error.value.code, bad_segment.value.code) == ("shared_campaign", "invalid_segment")
    assert not CouponIssueJob.objects.exists()
    assert not Coupon.objects.filter(campaign=campaign).exists()


def test_issue_job_over_http(people, campaign, hq_admin, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(hq_admin).post(
            "/api/v1/members/coupon-issues/", {"campaign": campaign.pk, "segment": {"tiers": ["GOLD"]}}, format="json"
        )
    assert response.status_code == 202
    job = client_for(hq_admin).get(f"/api/v1/members/coupon-issues/{response.json()['id']}/").json()
    assert (job["status"], job["issued"]) == ("done", 1)
    assert MemberTier.objects.get(tier__code="GOLD").member.issued_coupons.count() == 1


def test_a_job_whose_task_was_never_queued_is_run_by_the_minute_sweep(
    people, campaign, hq_admin, django_capture_on_commit_callbacks
):
    """The broker was down when the job was made (its task never left): the sweep queues it again."""
    from members.tasks import coupon_issue_jobs_sweep

    with django_capture_on_commit_callbacks(execute=False):  # the wake-up lost
        job = coupons.coupon_issue_job_create(campaign=campaign, segment={"tiers": ["GOLD"]}, actor=hq_admin)
    assert coupons.coupon_issue_jobs_waiting() == []  # just made: its task may still be on its way
    later = timezone.now() + timedelta(minutes=3)
    assert coupons.coupon_issue_jobs_waiting(now=later) == [job.pk]
    CouponIssueJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=3))
    coupon_issue_jobs_sweep()  # eager here: the job runs
    job.refresh_from_db()
    assert (job.status, job.issued) == ("done", 1) and coupons.coupon_issue_jobs_waiting(now=later) == []


def test_a_real_worker_runs_the_issue_job(live_worker, people, campaign, hq_admin):
    job = coupons.coupon_issue_job_create(campaign=campaign, segment={}, actor=hq_admin)

    for _ in range(150):
        job.refresh_from_db()
        if job.status in ("done", "failed"):
            break
        time.sleep(0.2)

    assert (job.status, job.matched, job.issued) == ("done", 4, 4)
    assert Coupon.objects.filter(campaign=campaign).count() == 4
