"""A launched campaign is sent by a real Celery worker (through Redis), not only eagerly."""

from __future__ import annotations

import time
from datetime import time as clock

import pytest

from marketing import campaigns, services
from marketing.models import Campaign
from members import services as member_services

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_a_real_worker_sends_the_campaign_after_the_launch_commits(live_worker, shop, hq_admin):
    for i in range(6):
        member = member_services.member_register(phone=f"09770000{i:02d}", name=f"W{i}", store=shop.store_b).member
        member_services.member_update(member=member, consents={"sms": i < 4})
    segment = services.segment_create(actor=hq_admin, name="B", rules={"home_stores": [shop.store_b.code]})
    campaign = campaigns.campaign_create(
        actor=hq_admin, name="Worker", segment=segment, channel="sms", message="Hi {name}", control_percent=0,
        quiet_start=clock(0), quiet_end=clock(0),
    )  # fmt: skip
    campaigns.campaign_launch(actor=hq_admin, campaign=campaign)  # committed: the worker is woken
    for _ in range(150):
        campaign.refresh_from_db()
        if campaign.status == Campaign.Status.SENT:
            break
        time.sleep(0.2)
    assert campaign.status == "sent"
    statuses = sorted(campaign.recipients.values_list("status", flat=True))
    assert statuses == ["no_consent", "no_consent", "sent", "sent", "sent", "sent"]
