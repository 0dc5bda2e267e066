"""Campaigns: consent and quiet hours respected, the control group gets nothing, a member is never
messaged twice, coupons and bonus points go with the message and only with it."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from marketing import campaigns, selectors, services
from marketing.campaigns import quiet_until
from marketing.models import Campaign, CampaignRecipient
from marketing.providers import FakeProvider
from members import coupons
from members import services as member_services
from members.models import Identity, PointsEntry, WalletCoupon
from members.sms import FakeSmsProvider
from omo.core.errors import ApplicationError, ConflictError
from tests.conftest import client_for
from tests.inventory.conftest import receive

R = CampaignRecipient


def local(hour: int, minute: int = 0, day: int = 0) -> datetime:
    today = timezone.localdate() + timedelta(days=day)
    return timezone.make_aware(datetime.combine(today, time(hour, minute)))


@pytest.fixture
def default_quiet_hours_off(settings):
    """For the tests whose (eager) task sends at the real time of day: no default quiet hours."""
    settings.MARKETING_QUIET_START = settings.MARKETING_QUIET_END = "00:00"


@pytest.fixture(autouse=True)
def clean_outboxes():
    FakeSmsProvider.outbox.clear()
    FakeProvider.outbox.clear()
    FakeProvider.fail_for.clear()
    yield
    FakeProvider.fail_for.clear()


@pytest.fixture
def audience(shop, hq_admin):
    """Ten members registered at store B: eight said yes to SMS marketing, one said yes then no, one
    never answered. A segment of them."""
    people = []
    for i in range(10):
        member = member_services.member_register(phone=f"09880000{i:02d}", name=f"M{i}", store=shop.store_b).member
        if i < 9:
            member_services.member_update(member=member, consents={"sms": True, "line": True})
        if i == 8:
            member_services.member_update(member=member, consents={"sms": False})
        people.append(member)
    segment = services.segment_create(actor=hq_admin, name="Store B", rules={"home_stores": [shop.store_b.code]})
    return segment, people


def unique_coupon(name="B100"):
    now = timezone.now()
    return coupons.campaign_create(
        name=name, discount_type="amount", amount=Decimal(100), starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=30), code_type="unique",
    )  # fmt: skip


def launch(audience, hq_admin, **options) -> Campaign:
    segment, _people = audience
    campaign = campaigns.campaign_create(
        actor=hq_admin, name="Back to store B", segment=segment, channel=options.pop("channel", "sms"),
        message=options.pop("message", "{name}, NT$100 off at store B: {code}"),
        coupon_campaign=options.pop("coupon_campaign", unique_coupon()), **options,
    )  # fmt: skip
    return campaigns.campaign_launch(actor=hq_admin, campaign=campaign, now=local(10))


def statuses(campaign) -> dict[str, int]:
    out: dict[str, int] = {}
    for status in campaign.recipients.values_list("status", flat=True):
        out[status] = out.get(status, 0) + 1
    return out


def test_consent_is_respected_and_the_control_group_gets_nothing(
    audience, hq_admin, django_capture_on_commit_callbacks
):
    _segment, people = audience
    with django_capture_on_commit_callbacks(execute=False):  # send below, at a known time
        campaign = launch(audience, hq_admin, control_percent=20)
    assert (campaign.status, campaign.audience) == ("sending", 10)
    held_out = set(campaign.recipients.filter(group="control").values_list("member_id", flat=True))
    assert len(held_out) == 2  # 20% of 10, drawn at random (seeded by the campaign: the same draw again)
    result = campaigns.campaign_send_batch(campaign=campaign, now=local(10, 5))
    assert result["done"] and result["claimed"] == 8
    sent_to = {sms.phone for sms in FakeSmsProvider.outbox}
    reached = set(campaign.recipients.filter(status="sent").values_list("member__phone", flat=True))
    assert sent_to == reached
    no_consent = {people[8].pk, people[9].pk} - held_out
    assert set(campaign.recipients.filter(status="no_consent").values_list("member_id", flat=True)) == no_consent
    assert len(reached) == 8 - len(no_consent)
    assert not {p.phone for p in people if p.pk in held_out} & sent_to  # the control group: nothing
    # each reached member got their own code in the text and in the wallet; nobody else got one
    for sms in FakeSmsProvider.outbox:
        recipient = campaign.recipients.get(member__phone=sms.phone)
        assert sms.text == f"{recipient.member.name}, NT$100 off at store B: {recipient.coupon_code}"
    assert WalletCoupon.objects.filter(coupon__campaign=campaign.coupon_campaign).count() == len(reached)
    Campaign.objects.filter(pk=campaign.pk).update(status="draft")  # even forced back to draft ...
    with pytest.raises(ApplicationError):
        campaigns.campaign_launch(actor=hq_admin, campaign=campaign)  # ... recipients exist: launched once
    assert len(FakeSmsProvider.outbox) == len(reached)


def test_a_second_run_and_a_stuck_batch_never_message_anyone_twice(
    audience, hq_admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        campaign = launch(audience, hq_admin, control_percent=0, per_minute=3)
    first = campaigns.campaign_send_batch(campaign=campaign, now=local(11))
    assert (first["claimed"], first["remaining"], first["done"]) == (3, 7, False)  # 3 a minute
    throttled = campaigns.campaign_send_batch(campaign=campaign, now=local(11, 0) + timedelta(seconds=30))
    assert throttled["claimed"] == 0 and throttled["wait_until"] == local(11, 1)  # the minute's 3 are taken
    # a worker died after claiming the next batch: those rows stay "sending" and are never sent again
    stuck = list(campaign.recipients.filter(status="pending").order_by("pk")[:2].values_list("pk", flat=True))
    R.objects.filter(pk__in=stuck).update(status="sending", claimed_at=local(11, 1))
    minute = 2
    while campaigns.campaign_send_batch(campaign=campaign, now=local(11, minute))["claimed"]:
        minute += 1
    again = campaigns.campaign_send_batch(campaign=campaign, now=local(11, minute + 1))
    assert again["claimed"] == 0 and again["sent"] == 0
    phones = [sms.phone for sms in FakeSmsProvider.outbox]
    assert len(phones) == len(set(phones)) == 6  # 10 less 2 stuck, less the 2 without consent
    assert statuses(campaign) == {"sent": 6, "no_consent": 2, "sending": 2}
    campaign.refresh_from_db()
    assert campaign.status == "sending"  # not finished while rows are stuck: the summary shows them
    # the minute sweep: still within the task's time limit, nothing changes; later they become unknown
    assert campaigns.campaigns_sweep(now=local(11, 10)) == [campaign.pk]
    assert statuses(campaign)["sending"] == 2
    assert campaigns.campaigns_sweep(now=local(11, 17)) == [campaign.pk]
    assert statuses(campaign) == {"sent": 6, "no_consent": 2, "unknown": 2}
    assert campaigns.campaign_send_batch(campaign=campaign, now=local(11, 18))["done"]
    campaign.refresh_from_db()
    assert campaign.status == "sent" and campaigns.campaigns_sweep(now=local(11, 19)) == []
    assert len(FakeSmsProvider.outbox) == 6  # the unknown two were never sent again


def test_a_cancel_between_the_read_and_the_claim_stops_the_batch(
    audience, hq_admin, monkeypatch, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        campaign = launch(audience, hq_admin, control_percent=0, coupon_campaign=None, message="Hi")
    real = campaigns.quiet_until

    def cancel_meanwhile(c, now):  # runs after the batch read the campaign as sending
        campaigns.campaign_cancel(actor=hq_admin, campaign=c)
        return real(c, now)

    monkeypatch.setattr(campaigns, "quiet_until", cancel_meanwhile)
    result = campaigns.campaign_send_batch(campaign=campaign, now=local(12))
    assert (result["claimed"], result["done"]) == (0, True)
    assert FakeSmsProvider.outbox == [] and statuses(campaign) == {"pending": 10}


def test_points_refused_after_the_send_leave_the_message_and_the_code(
    audience, hq_admin, monkeypatch, django_capture_on_commit_callbacks
):
    from members import services as points
    from omo.core.errors import BusinessRuleError

    def closed(**kwargs):
        raise BusinessRuleError("This member is no longer active.", code="member_inactive")

    monkeypatch.setattr(points, "points_earn", closed)
    with django_capture_on_commit_callbacks(execute=False):
        campaign = launch(audience, hq_admin, control_percent=0, bonus_points=50, message="{points} and {code}")
    campaigns.campaign_send_batch(campaign=campaign, now=local(12))
    sent = campaign.recipients.filter(status="sent")
    assert sent.count() == 8 == len(FakeSmsProvider.outbox)
    assert all(r.coupon_code and "not credited" in r.detail for r in sent)
    assert WalletCoupon.objects.filter(coupon__campaign=campaign.coupon_campaign).count() == 8


def test_nothing_is_sent_in_quiet_hours(audience, hq_admin, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        campaign = launch(audience, hq_admin, control_percent=0)
    night = campaigns.campaign_send_batch(campaign=campaign, now=local(22, 30))
    assert night["claimed"] == 0 and night["wait_until"] == local(9, 0, day=1)
    assert FakeSmsProvider.outbox == []
    assert quiet_until(campaign, local(8, 59)) == local(9) and quiet_until(campaign, local(9)) is None
    assert quiet_until(campaign, local(21)) == local(9, 0, day=1)
    # its own hours add to the default, never replace it
    Campaign.objects.filter(pk=campaign.pk).update(quiet_start=time(12), quiet_end=time(14))
    campaign.refresh_from_db()
    assert quiet_until(campaign, local(13)) == local(14) and quiet_until(campaign, local(22, 30)) == local(9, 0, 1)
    assert campaigns.campaign_send_batch(campaign=campaign, now=local(13))["claimed"] == 0
    assert campaigns.campaign_send_batch(campaign=campaign, now=local(22, 30))["claimed"] == 0
    # windows that meet are followed to the end of the last: 21:00-09:00 then 08:00-10:30
    Campaign.objects.filter(pk=campaign.pk).update(quiet_start=time(8), quiet_end=time(10, 30))
    campaign.refresh_from_db()
    assert quiet_until(campaign, local(22)) == local(10, 30, day=1)
    assert campaigns.campaign_send_batch(campaign=campaign, now=local(15))["sent"] == 8


def test_quiet_hours_cannot_be_switched_off_by_a_campaign(audience, hq_admin, settings):
    segment, _people = audience
    for quiet, field in (
        ({"quiet_start": time(0), "quiet_end": time(0)}, "quiet_end"),
        ({"quiet_start": time(22)}, "quiet_end"),
        ({"quiet_start": time(9), "quiet_end": time(21)}, "quiet_end"),  # with 21-09: no hour left
    ):
        with pytest.raises(ApplicationError) as caught:
            campaigns.campaign_create(actor=hq_admin, name="x", segment=segment, channel="sms", message="hi", **quiet)
        assert set(caught.value.details) == {field}, quiet
    # the installation's default can be switched off (MARKETING_QUIET_START == _END); a campaign's own stay
    settings.MARKETING_QUIET_START = settings.MARKETING_QUIET_END = "00:00"
    campaign = campaigns.campaign_create(
        actor=hq_admin, name="x", segment=segment, channel="sms", message="hi", quiet_start=time(12),
        quiet_end=time(14),
    )  # fmt: skip
    assert quiet_until(campaign, local(23)) is None and quiet_until(campaign, local(12)) == local(14)


def test_a_refused_message_leaves_no_coupon_and_no_points(audience, hq_admin, django_capture_on_commit_callbacks):
    _segment, people = audience
    for member in people[:3]:
        Identity.objects.create(member=member, provider="line", external_id=f"U{member.pk}")
    FakeProvider.fail_for.add(f"U{people[1].pk}")
    with django_capture_on_commit_callbacks(execute=False):
        campaign = launch(audience, hq_admin, channel="line", control_percent=0, bonus_points=50,
                          message="{name}: {points} points and {code}")  # fmt: skip
    campaigns.campaign_send_batch(campaign=campaign, now=local(12))
    assert statuses(campaign) == {"sent": 2, "failed": 1, "no_address": 6, "no_consent": 1}
    failed = campaign.recipients.get(status="failed")
    assert failed.member == people[1] and "refused" in failed.detail
    assert not PointsEntry.objects.filter(member=people[1], reference=f"campaign-{campaign.pk}").exists()
    assert not WalletCoupon.objects.filter(member=people[1], coupon__campaign=campaign.coupon_campaign).exists()
    assert PointsEntry.objects.filter(reference=f"campaign-{campaign.pk}", points=50).count() == 2
    assert [m.text.split(":")[0] for m in FakeProvider.outbox["line"]] == ["M0", "M2"]


def test_email_goes_through_django_s_email_backend(
    audience, hq_admin, default_quiet_hours_off, django_capture_on_commit_callbacks
):
    segment, people = audience
    member_services.member_update(member=people[0], email="m0@example.com", consents={"email": True})
    with django_capture_on_commit_callbacks(execute=True):  # the launch wakes the worker (eager here)
        campaigns.campaign_launch(
        actor=hq_admin,
            campaign=campaigns.campaign_create(
                actor=hq_admin, name="News", segment=segment, channel="email", subject="Autumn",
                message="Hi {name}", control_percent=0,
            ),
        )  # fmt: skip
    assert [(m.subject, m.body, m.to) for m in mail.outbox] == [("Autumn", "Hi M0", ["m0@example.com"])]


def test_bad_campaigns_are_refused_with_every_problem(audience, hq_admin):
    segment, _people = audience
    with pytest.raises(ApplicationError) as caught:
        campaigns.campaign_create(
            actor=hq_admin, name=" ", segment=segment, channel="fax", message="{code}", control_percent=60
        )
    assert set(caught.value.details) == {"name", "channel", "message", "control_percent"}
    assert Campaign.objects.count() == 0
    campaign = campaigns.campaign_create(actor=hq_admin, name="x", segment=segment, channel="sms", message="hi")
    campaigns.campaign_cancel(actor=hq_admin, campaign=campaign)
    with pytest.raises(ConflictError):
        campaigns.campaign_launch(actor=hq_admin, campaign=campaign)


def test_the_api_launches_and_the_worker_sends(
    audience, hq_admin, clerk_a, default_quiet_hours_off, django_capture_on_commit_callbacks
):
    segment, _people = audience
    api = client_for(hq_admin)
    response = api.post(
        "/api/v1/marketing/campaigns/",
        {"name": "B", "segment": segment.pk, "channel": "push", "message": "Hello {name}", "control_percent": 0},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    pk = response.json()["id"]
    with django_capture_on_commit_callbacks(execute=True):  # the task runs eagerly after the commit
        assert api.post(f"/api/v1/marketing/campaigns/{pk}/launch/").status_code == 200
    detail = api.get(f"/api/v1/marketing/campaigns/{pk}/").json()
    assert detail["status"] == "sent" and detail["summary"] == {"target": {"no_address": 10}}  # no app installs
    assert api.post(f"/api/v1/marketing/campaigns/{pk}/launch/").json()["code"] == "campaign_not_draft"
    assert client_for(clerk_a).get("/api/v1/marketing/campaigns/").status_code == 403


def test_results_against_the_control_group(audience, hq_admin, shop, django_capture_on_commit_callbacks):
    """Target: 8 members (those with SMS consent reached); control: 2. In the 14 days after launch, 3 target members buy
    (a tee online 500, jeans picked up at store A 1,200, and a tee at store B's counter 520) and one
    control member buys a cap online (300); a target member's order 20 days later does not count."""
    from tests.dashboard.conftest import counter_sale, web_order

    receive(shop.store_b, shop.tee, 5)
    with django_capture_on_commit_callbacks(execute=False):
        campaign = launch(audience, hq_admin, control_percent=20)
    campaigns.campaign_send_batch(campaign=campaign, now=local(10, 5))
    control = [r.member for r in campaign.recipients.filter(group="control").select_related("member")]
    target = [r.member for r in campaign.recipients.filter(group="target", status="sent").select_related("member")]
    today = timezone.localdate()
    web_order(shop, [("TEE-M", 1)], day=today, member=target[0])
    web_order(shop, [("JEANS-M", 1)], day=today + timedelta(days=3), member=target[1], fulfilment="pickup",
              store=shop.store_a)  # fmt: skip
    counter_sale(shop, [("TEE-M", 1)], day=today + timedelta(days=13), store=shop.store_b, member=target[2])
    web_order(shop, [("CAP-M", 1)], day=today + timedelta(days=20), member=target[3])  # too late
    web_order(shop, [("CAP-M", 1)], day=today + timedelta(days=1), member=control[0])
    got = selectors.campaign_results(campaign)
    t, c = got["groups"]["target"], got["groups"]["control"]
    reached = len(target)  # 8 less the target members without SMS consent (the draw decides how many)
    assert (t["members"], t["reached"], t["buyers"], t["orders"], t["revenue"]) == (
        8,
        reached,
        3,
        3,
        Decimal("2220.00"),
    )
    assert (c["members"], c["reached"], c["buyers"], c["orders"], c["revenue"]) == (2, 0, 1, 1, Decimal("300.00"))
    assert (t["conversion"], c["conversion"]) == (Decimal("0.3750"), Decimal("0.5000"))
    assert (t["revenue_per_member"], c["revenue_per_member"]) == (Decimal("277.50"), Decimal("150.00"))
    assert got["uplift"] == {
        "conversion": Decimal("-0.1250"),
        "revenue_per_member": Decimal("127.50"),
        "incremental_revenue": Decimal("1020.00"),  # 127.50 x 8
    }
    by_store = {r["where"]: r for r in got["by_store"]}
    assert by_store[shop.store_a.code]["target_revenue"] == Decimal("1200.00")
    assert by_store[shop.store_b.code]["target_revenue"] == Decimal("520.00")
    assert (by_store["online"]["target_revenue"], by_store["online"]["control_revenue"]) == (
        Decimal("500.00"),
        Decimal("300.00"),
    )
    by_channel = {r["where"]: (r.get("target_orders", 0), r.get("control_orders", 0)) for r in got["by_channel"]}
    assert by_channel == {shop.web.code: (2, 1), shop.pos.code: (1, 0)}
    response = client_for(hq_admin).get(f"/api/v1/marketing/campaigns/{campaign.pk}/results/")
    assert response.status_code == 200 and response.json()["uplift"]["incremental_revenue"] == "1020.00"


def test_a_provider_crash_fails_that_message_only(audience, hq_admin, monkeypatch, django_capture_on_commit_callbacks):
    _segment, people = audience
    for member in people[:3]:
        Identity.objects.create(member=member, provider="line", external_id=f"U{member.pk}")
    real = FakeProvider.send

    def flaky(self, message):
        if message.to == f"U{people[0].pk}":
            raise RuntimeError("connection reset")
        return real(self, message)

    monkeypatch.setattr(FakeProvider, "send", flaky)
    with django_capture_on_commit_callbacks(execute=False):
        campaign = launch(
            audience, hq_admin, channel="line", control_percent=0, coupon_campaign=None, message="Hi {name}"
        )
    campaigns.campaign_send_batch(campaign=campaign, now=local(12))
    assert campaign.recipients.get(member=people[0]).detail == "RuntimeError: connection reset"
    assert statuses(campaign) == {"failed": 1, "sent": 2, "no_address": 6, "no_consent": 1}


def test_only_a_role_that_may_change_campaigns_launches_or_cancels(audience, client, shop):
    """HQ merchandisers read campaigns: the service refuses them, the admin offers them no action."""
    from django.urls import reverse

    from omo.core.errors import PermissionDeniedError
    from omo.org.roles import Role
    from tests.factories import make_staff

    segment, _people = audience
    reader = make_staff(Role.HQ_MERCHANDISER, username="merch").user
    crm = make_staff(Role.HQ_CRM, username="crm").user
    campaign = campaigns.campaign_create(actor=crm, name="x", segment=segment, channel="sms", message="hi")
    for action in (campaigns.campaign_launch, campaigns.campaign_cancel):
        with pytest.raises(PermissionDeniedError):
            action(actor=reader, campaign=campaign)
    with pytest.raises(PermissionDeniedError):
        campaigns.campaign_update(actor=reader, campaign=campaign, message="changed")
    url = reverse("admin:marketing_campaign_changelist")
    client.force_login(reader)
    page = client.get(url)
    assert page.status_code == 200 and 'value="launch"' not in page.content.decode()
    client.post(url, {"action": "launch", "_selected_action": [campaign.pk]})
    client.post(url, {"action": "cancel", "_selected_action": [campaign.pk]})
    campaign.refresh_from_db()
    assert campaign.status == "draft" and not campaign.recipients.exists()
    client.force_login(crm)
    assert 'value="launch"' in client.get(url).content.decode()
    client.post(url, {"action": "cancel", "_selected_action": [campaign.pk]})
    campaign.refresh_from_db()
    assert campaign.status == "cancelled"
    # an edit of a campaign launched (or cancelled) meanwhile is refused under the row lock
    with pytest.raises(ConflictError):
        campaigns.campaign_update(actor=crm, campaign=campaign, message="changed")


def test_the_campaign_list_reads_every_summary_at_once(audience, hq_admin, django_assert_max_num_queries):
    segment, _people = audience
    for i in range(5):
        campaign = campaigns.campaign_create(actor=hq_admin, name=f"c{i}", segment=segment, channel="sms", message="hi")
        R.objects.create(campaign=campaign, member=_people[i], group="target", status="pending")
    api = client_for(hq_admin)
    with django_assert_max_num_queries(4):  # auth and permissions, the campaigns, their summaries
        rows = api.get("/api/v1/marketing/campaigns/").json()
    assert len(rows) == 5 and all(r["summary"] == {"target": {"pending": 1}} for r in rows)
