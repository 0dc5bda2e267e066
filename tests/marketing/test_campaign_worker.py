"""A launched campaign is sent by a real Celery worker (through Redis), not only eagerly; several
workers sending at once keep the throttle and never message a member twice."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from datetime import time as clock

import pytest
from django.db import connection
from django.utils import timezone

from marketing import campaigns, services
from marketing.models import Campaign
from members import services as member_services

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def no_default_quiet_hours(monkeypatch, settings):
    """Before the worker starts: it reads the environment (the test runs at any hour)."""
    monkeypatch.setenv("MARKETING_QUIET_START", "00:00")
    monkeypatch.setenv("MARKETING_QUIET_END", "00:00")
    settings.MARKETING_QUIET_START = settings.MARKETING_QUIET_END = "00:00"


def test_a_real_worker_sends_the_campaign_after_the_launch_commits(no_default_quiet_hours, live_worker, shop, hq_admin):
    for i in range(6):
        member = member_services.member_register(phone=f"09770000{i:02d}", name=f"W{i}", store=shop.store_b).member
        member_services.member_update(member=member, consents={"sms": i < 4})
    segment = services.segment_create(actor=hq_admin, name="B", rules={"home_stores": [shop.store_b.code]})
    campaign = campaigns.campaign_create(
        actor=hq_admin,
        name="Worker",
        segment=segment,
        channel="sms",
        message="Hi {name}",
        control_percent=0,
    )
    campaigns.campaign_launch(actor=hq_admin, campaign=campaign)  # committed: the worker is woken
    for _ in range(150):
        campaign.refresh_from_db()
        if campaign.status == Campaign.Status.SENT:
            break
        time.sleep(0.2)
    assert campaign.status == "sent"
    statuses = sorted(campaign.recipients.values_list("status", flat=True))
    assert statuses == ["no_consent", "no_consent", "sent", "sent", "sent", "sent"]


def test_workers_sending_at_once_keep_the_throttle_and_send_once(shop, hq_admin, require_postgres, monkeypatch):
    """Four workers take batches of the same campaign at the same moment, twice a minute for three
    minutes: no more than ``per_minute`` members are taken in any minute, nobody twice."""
    from members.sms import FakeSmsProvider

    FakeSmsProvider.outbox.clear()
    for i in range(30):
        member = member_services.member_register(phone=f"09771000{i:02d}", name=f"C{i}", store=shop.store_b).member
        member_services.member_update(member=member, consents={"sms": True})
    segment = services.segment_create(actor=hq_admin, name="C", rules={"home_stores": [shop.store_b.code]})
    campaign = campaigns.campaign_create(
        actor=hq_admin, name="Race", segment=segment, channel="sms", message="Hi", control_percent=0, per_minute=8
    )
    start = timezone.make_aware(datetime.combine(timezone.localdate(), clock(12)))
    from omo.core import queue

    monkeypatch.setattr(queue, "enqueue", lambda *args, **kwargs: True)  # the workers are the threads below
    campaigns.campaign_launch(actor=hq_admin, campaign=campaign, now=start)
    for step in range(6):
        now = start + timedelta(seconds=30 * step)
        barrier, errors = threading.Barrier(4), []

        def work(now=now, barrier=barrier, errors=errors):
            try:
                barrier.wait()
                campaigns.campaign_send_batch(campaign=campaign, now=now, limit=3)
            except Exception as error:
                errors.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        claims = list(campaign.recipients.exclude(claimed_at=None).values_list("claimed_at", flat=True))
        for at in claims:  # any minute-long window holds at most per_minute claims
            assert sum(1 for other in claims if at - timedelta(seconds=60) < other <= at) <= 8
    phones = [sms.phone for sms in FakeSmsProvider.outbox]
    assert len(phones) == len(set(phones)) == campaign.recipients.filter(status="sent").count() == 24
