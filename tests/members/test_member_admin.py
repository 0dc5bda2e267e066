"""The member 360 page in the HQ admin, with the data export, the erasure and the merge."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from members import coupons, loyalty, merging, services
from members.models import CouponCampaign, CouponIssueJob, DuplicateCandidate, Member, Tier
from tests.factories import SalesChannelFactory


def register(**kwargs) -> Member:
    return services.member_register(**kwargs).member


@pytest.fixture
def member(db, store_a):
    Tier.objects.create(code="MEMBER", name="一般會員", rank=0, min_spend_12m=0)
    pos, web = SalesChannelFactory(code="POS", kind="pos"), SalesChannelFactory(code="WEB", kind="web")
    member = register(phone="0912345678", name="林美華", identities={"line": "U-360"}, consents={"sms": True})
    services.points_earn(member=member, points=120, reference="POS-0001")
    loyalty.purchase_record(member=member, reference="POS-0001", channel=pos, store=store_a, amount=Decimal(1200))
    loyalty.purchase_record(member=member, reference="WEB-0001", channel=web, amount=Decimal(880))
    return member


def test_the_member_page_shows_every_channel_and_the_omo_segment(client, hq_admin, member, store_a):
    for n in range(5):  # a longer history costs no more queries
        loyalty.purchase_record(
            member=member,
            reference=f"POS-1{n}",
            channel=SalesChannelFactory(code=f"P{n}", kind="pos"),
            store=store_a,
            amount=Decimal(10),
        )
    client.force_login(hq_admin)

    response = client.get(reverse("admin:members_member_change", args=[member.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-segment="both"' in page
    assert "POS-0001" in page and "WEB-0001" in page
    assert "U-360" in page
    assert "一般會員" in page
    assert ">120<" in page  # the points


def test_the_member_page_query_count_does_not_grow_with_history(client, hq_admin, member, store_a):
    client.force_login(hq_admin)
    url = reverse("admin:members_member_change", args=[member.pk])
    client.get(url)
    with CaptureQueriesContext(connection) as short:
        client.get(url)
    pos = SalesChannelFactory(code="POS2", kind="pos")
    for n in range(10):
        loyalty.purchase_record(member=member, reference=f"X{n}", channel=pos, store=store_a, amount=Decimal(10))
        services.points_earn(member=member, points=1, reference=f"X{n}")
        merging.duplicate_candidates_record(member_ids=[member.pk, register(phone=f"09120001{n:02d}").pk], evidence={})

    with CaptureQueriesContext(connection) as long:
        client.get(url)

    assert len(long) == len(short)


def test_export_erase_and_merge_from_the_admin(client, hq_admin, member):
    client.force_login(hq_admin)
    dup = register(phone="0912000999", name="林美華")
    services.points_earn(member=dup, points=30, reference="D")

    export = client.get(reverse("admin:members_member_export", args=[member.pk]))
    assert json.loads(export.content)["member"]["name"] == "林美華"

    merge_url = reverse("admin:members_member_merge", args=[member.pk])
    preview = client.post(merge_url, {"merged": dup.member_no})
    assert "keep:phone" in preview.content.decode()  # two phones: HQ must choose
    assert Member.objects.get(pk=dup.pk).status == "active"
    done = client.post(merge_url, {"merged": dup.member_no, "confirm": dup.member_no, "keep:phone": "survivor"})
    assert done.status_code == 302
    member.refresh_from_db()
    assert member.points_balance == 150
    assert Member.objects.get(pk=dup.pk).status == "merged"

    erased = client.post(reverse("admin:members_member_erase", args=[member.pk]), {"reason": "PDPA #1"})
    assert erased.status_code == 302
    member.refresh_from_db()
    assert (member.status, member.name, member.phone) == ("erased", "", None)


def test_store_staff_and_merchandisers_cannot_export_or_erase(client, member, db):
    from omo.org.roles import Role
    from tests.factories import make_staff

    client.force_login(make_staff(Role.HQ_MERCHANDISER).user)
    assert client.get(reverse("admin:members_member_export", args=[member.pk])).status_code == 403
    assert client.post(reverse("admin:members_member_erase", args=[member.pk]), {"reason": "x"}).status_code == 403
    assert Member.objects.get(pk=member.pk).status == "active"


def test_duplicates_are_listed_and_dismissed(client, hq_admin, member):
    other = register(phone="0912000555")
    merging.duplicate_candidates_record(member_ids=[member.pk, other.pk], evidence={})
    client.force_login(hq_admin)
    listing = client.get(reverse("admin:members_duplicatecandidate_changelist"))
    assert f"?merged={other.member_no}" in listing.content.decode()

    client.post(
        reverse("admin:members_duplicatecandidate_changelist"),
        {"action": "dismiss", "_selected_action": [DuplicateCandidate.objects.get().pk]},
    )

    assert DuplicateCandidate.objects.get().status == "dismissed"


def test_coupon_issue_job_from_the_admin(client, hq_admin, member, django_capture_on_commit_callbacks):
    campaign = coupons.campaign_create(
        name="回饋",
        discount_type="amount",
        amount=Decimal(100),
        starts_at=timezone.now() - timedelta(days=1),
        ends_at=timezone.now() + timedelta(days=9),
        code_type=CouponCampaign.Codes.UNIQUE,
    )
    client.force_login(hq_admin)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:members_couponissuejob_add"), {"campaign": campaign.pk, "segment": '{"omo": "both"}'}
        )

    assert response.status_code == 302
    job = CouponIssueJob.objects.get()
    assert (job.status, job.issued, job.created_by) == ("done", 1, hq_admin)
