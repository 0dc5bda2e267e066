"""Clerk attribution for the demo (推薦人機制): the standard commission policy in force since before the
demo orders, bindings of every source (the counter sales' own, members signed up in store with a
clerk's QR code, referral links followed online, LINE chats, an HQ assignment), every paid demo order
attributed and every demo return clawed back, one month settled (approved and paid) and last month
as a draft for HQ finance to review.

Runs after the order seed, in the same transaction. Idempotent: a second run finds the policy, the
bindings (by their references), the attributions and the settled month, and adds nothing.
"""

from __future__ import annotations

import random
from datetime import timedelta

from dateutil.relativedelta import relativedelta
from django.utils import timezone

from attribution import services as attribution
from attribution import settlement
from attribution.models import Binding, Policy, SettlementPeriod, Source
from members.models import Member
from omo.core import config_cache
from omo.org.models import StaffProfile, User
from orders.models import Return

STANDARD = {
    "name": "標準推薦人制度",
    "validity_days": {"pos_sale": 30, "qr_registration": 90, "referral_link": 7, "line_chat": 30, "hq_manual": 180},
    "conflict": "latest",
    "rebind_wait_days": 7,
    "age_factors": [[0, "1"], [60, "0.5"]],
    "default_rate": "0.03",
    "category_rates": {"women/outerwear": "0.05", "men/outerwear": "0.05"},
    "channel_rates": {"SHOPEE": "0.01"},
    "excluded_categories": [],
    "excluded_channels": [],
    "store_share": "0.3",
    "departed_clerk": "store",
    "lockup_days": 7,
    "note": "示範：門市服務 30 天、QR 註冊 90 天、推薦連結 7 天、LINE 30 天；最新綁定優先",
}
CHATS = [
    "LINE 詢問新款羽絨外套尺寸",
    "LINE 傳了週年慶優惠",
    "LINE 回覆牛仔褲修改",
    "LINE 推薦秋冬新品",
    "LINE 約到店試穿",
    "LINE 確認門市庫存",
]


def seed_attribution(result) -> None:
    now = timezone.now()
    policy = Policy.objects.order_by("version").first()
    if policy is None:
        draft = attribution.policy_create(actor=None, **STANDARD)
        policy = attribution.policy_adopt(actor=None, policy=draft)
        # in force since before the demo's four months of orders, as if adopted then
        Policy.objects.filter(pk=policy.pk).update(effective_from=now - timedelta(days=150))
        config_cache.clear()
        result.count("commission policies")
    _bindings(result, now)
    attributed = attribution.orders_attribute_pending(limit=100_000)
    if attributed:
        result.count("orders attributed", attributed)
    for ret in Return.objects.filter(order__idempotency_key__startswith="demo-order-").order_by("pk"):
        attribution.return_claw_back(ret=ret)
    _settle(result, now)


def _clerks() -> list[StaffProfile]:
    return list(
        StaffProfile.objects.filter(home_store__isnull=False, user__is_active=True)
        .select_related("user", "home_store")
        .order_by("employee_code")
    )


def _bindings(result, now) -> None:
    if Binding.objects.filter(reference="demo-chat-1").exists():
        return
    rng = random.Random(2026_07)  # noqa: S311 (demo data, not secrets)
    clerks = _clerks()
    by_user = {p.user_id: p for p in clerks}
    # members signed up in a store by a clerk (the clerk's QR code at the counter) in the last 150 days
    since = now - timedelta(days=150)
    signups = [
        Binding(
            member_id=m.pk,
            clerk_id=m.registered_by_id,
            store_id=m.registered_store_id,
            source=Source.QR_REGISTRATION,
            started_at=m.created_at,
            reference=f"signup:{m.member_no}",
        )
        for m in Member.objects.filter(
            created_at__gte=since, registered_store__isnull=False, registered_by__in=list(by_user)
        ).order_by("pk")
    ]
    Binding.objects.bulk_create(signups, ignore_conflicts=True)
    result.count("bindings (QR sign-ups)", len(signups))
    members = list(Member.objects.filter(status=Member.Status.ACTIVE).order_by("pk")[:400])
    picks = rng.sample(members, 40)
    for n, member in enumerate(picks[:12], start=1):  # referral links followed online
        profile = rng.choice(clerks)
        attribution.binding_record(
            member=member,
            clerk=profile.user,
            store=profile.home_store,
            source=Source.REFERRAL_LINK,
            at=now - timedelta(days=rng.randint(1, 100), hours=rng.randint(0, 12)),
            reference=f"demo-link-{n}",
        )
    for n, member in enumerate(picks[12:36], start=1):  # LINE conversations logged at the counter
        profile = rng.choice(clerks)
        attribution.binding_record(
            member=member,
            clerk=profile.user,
            store=profile.home_store,
            source=Source.LINE_CHAT,
            at=now - timedelta(days=rng.randint(1, 100), hours=rng.randint(0, 12)),
            reference=f"demo-chat-{n}",
            note=CHATS[n % len(CHATS)],
        )
    admin = User.objects.filter(username="admin").first()
    for n, member in enumerate(picks[36:38], start=1):  # HQ hands two VIPs to a clerk by hand
        profile = clerks[n]
        attribution.binding_record(
            member=member,
            clerk=profile.user,
            store=profile.home_store,
            source=Source.HQ_MANUAL,
            at=now - timedelta(days=20 * n),
            reference=f"demo-assign-{n}",
            note="VIP 名單移交（原服務店員離職）",
            actor=admin,
        )
    result.count("bindings (links, chats, HQ)", 38)


def _settle(result, now) -> None:
    """The month before last settled (approved and paid), last month built as a draft."""
    this_month = timezone.localdate(now).replace(day=1)
    settled, draft = this_month - relativedelta(months=2), this_month - relativedelta(months=1)
    finance = User.objects.filter(username="finance", is_active=True).first()
    if finance is None or SettlementPeriod.objects.filter(month__in=[settled, draft]).exists():
        return  # settled before (HQ may have moved on since: nothing is built again)
    period = settlement.settlement_build(month=settled)
    period = settlement.settlement_approve(actor=finance, period=period, fingerprint=period.fingerprint)
    settlement.settlement_mark_paid(actor=finance, period=period)
    settlement.settlement_build(month=draft)
    result.count("settlement months (one paid, one draft)", 2)
