"""Precision marketing in the demo: the RFM scores, three saved segments (lapsed OMO members, store-only
members who bought recently, birthdays this month) and two campaigns: one sent over LINE with a NT$150
coupon code to the lapsed members (10% held out, the fake LINE provider records the messages) and one
SMS draft. Deterministic; a second run finds the segments and adds nothing."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from marketing import campaigns, services
from marketing.models import Segment
from members import coupons
from omo.org.models import StaffProfile


def seed_marketing(result) -> None:
    if Segment.objects.exists():
        return
    crm = StaffProfile.objects.filter(employee_code="HQ-003").select_related("user").first()
    actor = crm.user if crm else None
    services.rfm_refresh()
    lapsed = services.segment_create(
        actor=actor, name="OMO members gone quiet (60-365 days)",
        description="Bought in both channels, nothing for two months: bring them back with a coupon.",
        rules={"omo": "both", "last_purchase_days": {"min": 60, "max": 365}, "consent": "line"},
    )  # fmt: skip
    services.segment_create(
        actor=actor, name="Store-only, bought in the last 30 days",
        description="Recent store buyers who never bought online: show them the app.",
        rules={"omo": "store_only", "rfm": {"r": [4, 5]}},
    )  # fmt: skip
    services.segment_create(
        actor=actor, name="Birthdays this month", rules={"birthday_month": timezone.localdate().month},
        schedule=Segment.Schedule.DAILY,
    )  # fmt: skip
    result.count("segments", 3)
    now = timezone.now()
    coupon = coupons.campaign_create(
        name="Welcome back NT$150", discount_type="amount", amount=Decimal(150), min_spend=Decimal(1000),
        starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=30), code_type="unique",
    )  # fmt: skip
    sent = campaigns.campaign_create(
        actor=actor, name="Welcome back (LINE)", segment=lapsed, channel="line",
        message="{name}，好久不見！NT$150 折價券 {code}，門市與線上都能用。", coupon_campaign=coupon,
        control_percent=10,
    )  # fmt: skip
    # sent at 10:00 today (or yesterday, before 10:00): outside the quiet hours whenever the demo is seeded
    at = timezone.make_aware(datetime.combine(timezone.localdate(), time(10)))
    at = at if at <= now else at - timedelta(days=1)
    campaigns.campaign_launch(actor=actor, campaign=sent, now=at)
    while not campaigns.campaign_send_batch(campaign=sent, now=at)["done"]:
        at += timedelta(minutes=1)  # the campaign's sends per minute
    campaigns.campaign_create(
        actor=actor, name="Try the app (SMS draft)", segment=Segment.objects.get(name__startswith="Store-only"),
        channel="sms", message="{name}，下載 App 首購享 200 點！", bonus_points=200,
    )  # fmt: skip
    result.count("campaigns", 2)
