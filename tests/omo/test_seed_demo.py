import re
from collections import defaultdict
from datetime import datetime, time
from decimal import Decimal
from io import StringIO

import phonenumbers
import pytest
from dateutil.relativedelta import relativedelta
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, reset_queries
from django.db.models import Count, F, Q, Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import Variant
from inventory.models import LotStock, Reservation, StockLevel, StockMovement, Transfer
from members.models import (
    Coupon,
    CouponCampaign,
    CouponRedemption,
    Identity,
    Member,
    MemberTier,
    PointsEntry,
    PointsLot,
    Purchase,
    ReferralReward,
    Tier,
    TierChange,
    WalletCoupon,
)
from members.segments import OMO_SEGMENTS, segment_members
from members.services import default_points_expiry
from omo.demo.member_seed import seed_members
from omo.events.models import OutboxEvent
from omo.org.access import roles_of
from omo.org.models import REFERRAL_CODE_ALPHABET, Location, SalesChannel, StaffProfile, User
from orders.models import Fulfilment, Order, Return
from pos.models import Register


@pytest.fixture(autouse=True)
def development_mode(settings):
    settings.DEBUG = True  # pytest-django turns DEBUG off; the seed refuses production without --force


def snapshot() -> dict:
    """Every row of every table of the project's apps (and users and groups), as plain values."""
    tables = {}
    for model in apps.get_models():
        if model._meta.app_label in {"sessions", "admin", "contenttypes"}:
            continue
        tables[model._meta.label] = sorted(
            tuple(sorted((k, str(v)) for k, v in row.items())) for row in model.objects.values()
        )
    tables["group memberships"] = sorted(User.groups.through.objects.values_list("user_id", "group_id"))
    return tables


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_builds_the_demo_brand_and_a_second_run_changes_nothing(db, api, monkeypatch):
    member_queries = CaptureQueriesContext(connection)

    def seed_members_counted(result):
        reset_queries()  # the log keeps the last 9,000 queries and the rest of the seed fills it
        with member_queries:
            seed_members(result)

    monkeypatch.setattr("omo.demo.seed.seed_members", seed_members_counted)

    output = seed()

    assert (
        "created 7 locations, 24 staff, 4 channels, 3 channel keys, 3 tiers, 1 earn rules, 36 products, "
        "306 SKUs, 2 goods receipts, 5 transfers, 10 registers, 3000 members, 8516 purchases, 2 coupon campaigns, "
        "81 orders, 7 returns, 1 commission policies, " in output
    )
    assert re.search(
        r"\d+ bindings \(QR sign-ups\), 38 bindings \(links, chats, HQ\), \d+ orders attributed, "
        r"2 settlement months \(one paid, one draft\), \d+ traffic counts, \d+ dashboard days rolled up, "
        r"3 segments, 2 campaigns\.",
        output,
    ), output[:2000]
    assert_demo_attribution()
    assert_demo_marketing()
    # about 30,000 member rows written in batches of 1,000 (SQLite takes fewer rows per statement, at
    # most 999 parameters): no query per member either way
    assert len(member_queries) < (120 if connection.vendor == "postgresql" else 500)
    assert_demo_members()
    assert_demo_orders()
    assert_stock_books_balance()
    stores = Location.objects.filter(kind="store")
    assert stores.count() == 5
    assert len(set(stores.values_list("city", flat=True))) == 5
    assert set(stores.values_list("supplying_warehouse__code", flat=True)) == {"WH-EC", "WH-KHH"}
    assert Location.objects.get(code="WH-EC").name == "桃園電商倉"
    for store in stores:
        people = StaffProfile.objects.filter(home_store=store)
        assert sorted(r for p in people for r in roles_of(p.user)) == ["clerk", "clerk", "clerk", "store_manager"]
        assert Register.objects.filter(store=store).count() == 2
        assert StockLevel.objects.filter(location=store, on_hand__gt=0).count() > 200
    assert User.objects.get(username="admin").is_superuser
    assert User.objects.get(username="tpe01.clerk1").check_password("omo-demo-2026")
    assert "tpe01.clerk1" in output
    assert "omo_demoweb1_web-demo-key-not-for-production" in output
    assert "http://127.0.0.1:8000/admin/" in output
    assert Variant.objects.filter(product__tracks_lots=True).count() == 6
    assert LotStock.objects.filter(on_hand__gt=0).values("lot__variant").distinct().count() == 6
    assert (
        api.get("/api/v1/channel/", HTTP_X_API_KEY="omo_demoapp1_app-demo-key-not-for-production").json()["code"]
        == "APP"
    )

    Location.objects.filter(code="S-TPE01").update(name="台北信義旗艦店")  # HQ edits something
    before = snapshot()
    again = seed()

    assert "created nothing (already seeded)" in again
    assert snapshot() == before
    assert Location.objects.get(code="S-TPE01").name == "台北信義旗艦店"


def assert_demo_marketing():
    """The LINE campaign reached the lapsed OMO members who have LINE, held 10% out, and put a code in
    each reached member's wallet; the SMS campaign waits as a draft."""
    from marketing.models import Campaign
    from members.models import WalletCoupon

    sent, draft = Campaign.objects.get(channel="line"), Campaign.objects.get(channel="sms")
    assert (sent.status, draft.status) == ("sent", "draft")
    counts = {s: sent.recipients.filter(status=s).count() for s in ("sent", "held_out", "no_address", "pending")}
    assert sent.audience > 20 and counts["sent"] > 10 and counts["pending"] == 0
    assert counts["held_out"] == round(sent.audience * 0.1)
    assert WalletCoupon.objects.filter(coupon__campaign=sent.coupon_campaign).count() == counts["sent"]


def assert_demo_attribution():
    """Bindings of every source, every paid demo order attributed once, returns clawed back, one month
    paid and last month a draft whose totals are its lines'."""
    from attribution.models import AttributionLine, Binding, OrderAttribution, SettlementPeriod, Source

    assert set(Binding.objects.values_list("source", flat=True)) == set(Source.values)
    paid = Order.objects.exclude(paid_at=None).exclude(status="cancelled")  # cancelled: refunded, not attributed
    assert OrderAttribution.objects.count() == paid.count() > 60
    assert set(OrderAttribution.objects.values_list("rule", flat=True)) >= {"pos_sale", "latest_binding", "no_binding"}
    assert AttributionLine.objects.filter(kind="clawback").exists()
    pos_lines = AttributionLine.objects.filter(rule="pos_sale")
    assert not pos_lines.exclude(clerk__isnull=False).exists()
    [(paid_month, paid_status), (draft_month, draft_status)] = SettlementPeriod.objects.order_by("month").values_list(
        "month", "status"
    )
    assert (paid_status, draft_status) == ("paid", "draft")
    assert (
        draft_month
        == paid_month + relativedelta(months=1)
        == timezone.localdate().replace(day=1) - relativedelta(months=1)
    )
    draft = SettlementPeriod.objects.get(month=draft_month)
    open_lines = AttributionLine.objects.filter(period=None, eligible_on__lt=draft_month + relativedelta(months=1))
    assert sum(t.commission for t in draft.totals.all()) == sum(line.commission for line in open_lines)
    assert not AttributionLine.objects.filter(period__status="paid", eligible_on__gte=draft_month).exists()


def test_seed_refuses_production_without_force(db, settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("seed_demo", stdout=StringIO())

    assert Location.objects.count() == 0


def test_seed_leaves_a_login_made_before_it_alone(db):
    User.objects.create_superuser("admin", password="my-own-secret-1")

    output = seed()

    assert "admin            (a login of that name existed before the demo: left unchanged)" in output
    assert User.objects.get(username="admin").check_password("my-own-secret-1")
    assert not StaffProfile.objects.filter(user__username="admin").exists()
    assert StaffProfile.objects.count() == 23
    assert "created nothing" in seed()


def assert_demo_members() -> None:
    """The demo members hold together the way the services keep them."""
    today, now = timezone.localdate(), timezone.now()
    members = list(Member.objects.values("pk", "member_no", "phone", "email", "referral_code", "points_balance"))
    assert len(members) == 3000
    assert all(re.fullmatch(r"M\d{9}", m["member_no"]) for m in members)
    assert all(re.fullmatch(r"\+8869\d{8}", m["phone"]) for m in members)
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(m["phone"])) for m in members[::10])
    assert all(m["email"] == m["email"].lower() for m in members if m["email"])
    assert all(re.fullmatch(f"[{REFERRAL_CODE_ALPHABET}]{{8}}", m["referral_code"]) for m in members)
    line_ids = Identity.objects.filter(provider=Identity.Provider.LINE).values_list("external_id", flat=True)
    assert all(re.fullmatch(r"U[0-9a-f]{32}", external_id) for external_id in line_ids)

    # points: balance == ledger == open lots for every member, balance_after running in id order
    balances = {m["pk"]: m["points_balance"] for m in members}
    ledger = dict(PointsEntry.objects.values("member").annotate(s=Sum("points")).values_list("member", "s"))
    lots = dict(PointsLot.objects.values("member").annotate(s=Sum("remaining")).values_list("member", "s"))
    assert {pk: b for pk, b in balances.items() if b} == {pk: s for pk, s in ledger.items() if s}
    assert {pk: b for pk, b in balances.items() if b} == {pk: s for pk, s in lots.items() if s}
    running = defaultdict(int)
    for member_id, points, balance_after in PointsEntry.objects.order_by("id").values_list(
        "member", "points", "balance_after"
    ):
        running[member_id] += points
        assert balance_after == running[member_id] >= 0
    assert not PointsLot.objects.filter(expires_on__lt=today, remaining__gt=0).exists()
    for created_at, expires_on in PointsLot.objects.values_list("created_at", "expires_on"):
        assert expires_on == default_points_expiry(timezone.localtime(created_at).date())
    assert PointsEntry.objects.filter(kind=PointsEntry.Kind.REDEEM).exists()

    # purchases: POS rows at a store, online rows not (an online order's at the store that hands it
    # over); refunds only on the demo orders that came back; store-only, online-only and both
    history = Purchase.objects.filter(reference__startswith="DEMO-")
    assert not Purchase.objects.filter(channel__kind=SalesChannel.Kind.POS, store=None).exists()
    assert not history.filter(channel__kind__in=SalesChannel.ONLINE_KINDS).exclude(store=None).exists()
    assert not Purchase.objects.filter(Q(paid_at__gt=now) | Q(paid_at__lt=now - relativedelta(months=14))).exists()
    assert not history.exclude(refunded=0).exists()
    by_order = Purchase.objects.exclude(reference__startswith="DEMO-")
    assert sorted(by_order.values_list("reference", "store", "amount", "refunded", "paid_at")) == sorted(
        Order.objects.exclude(member=None)
        .exclude(paid_at=None)
        .values_list("number", "store", "total", "refunded_total", "paid_at")
    )
    # the OMO segments against the purchases counted here by hand (the exact numbers move with the
    # calendar: the demo's dates are relative to today)
    kinds = defaultdict(set)
    for member_id, kind in Purchase.objects.values_list("member", "channel__kind"):
        kinds[member_id].add("store" if kind == SalesChannel.Kind.POS else "online")
    by_hand = {"store_only": 0, "online_only": 0, "both": 0, "none": 0}
    for m in members:
        seen = kinds.get(m["pk"], set())
        by_hand["both" if len(seen) == 2 else f"{seen.pop()}_only" if seen else "none"] += 1
    segments = {omo: segment_members({"omo": omo}).count() for omo in OMO_SEGMENTS}
    assert segments == by_hand
    assert min(by_hand.values()) > 300 and sum(by_hand.values()) == len(members) == 3000

    # tiers: the one the rolling 12-month net spend reaches, with one history row saying so; a member
    # who ordered since was upgraded at once by the order and keeps the tier while it is valid
    since = timezone.make_aware(datetime.combine(today - relativedelta(months=12), time()))
    spend = dict(
        Purchase.objects.filter(paid_at__gte=since)
        .values("member")
        .annotate(s=Sum(F("amount") - F("refunded")))
        .values_list("member", "s")
    )
    tiers = list(Tier.objects.order_by("rank"))
    states = {s.member_id: s for s in MemberTier.objects.select_related("tier")}
    changes = defaultdict(list)
    for change in TierChange.objects.order_by("id"):
        changes[change.member_id].append(change)
    assert len(changes) == len(states) == 3000
    ordered = set(Order.objects.exclude(member=None).exclude(paid_at=None).values_list("member", flat=True))
    for pk in balances:
        reached = [t for t in tiers if t.min_spend_12m <= spend.get(pk, Decimal(0))][-1]
        tier = states[pk].tier
        assert states[pk].valid_until == (today + relativedelta(months=tier.validity_months) if tier.rank > 0 else None)
        if pk not in ordered:
            assert tier == reached
            assert [(c.from_tier_id, c.to_tier_id, c.spend_12m) for c in changes[pk]] == [
                (None, reached.pk, spend.get(pk, 0))
            ]
            continue
        assert tier.rank >= reached.rank
        assert [c.from_tier_id for c in changes[pk]] == [None] + [c.to_tier_id for c in changes[pk][:-1]]
        assert changes[pk][-1].to_tier == tier
        assert all(c.to_tier.min_spend_12m <= c.spend_12m for c in changes[pk])
    # members upgraded by a demo order (how many moves with the calendar: the demo's dates are relative)
    upgraded = sum(len(c) > 1 for c in changes.values())
    assert upgraded == TierChange.objects.count() - 3000 and 1 <= upgraded <= 20
    assert {s.tier.code for s in states.values()} == {"MEMBER", "SILVER", "GOLD"}

    # coupons: use counts agree with the redemptions
    assert Coupon.objects.get(code="WELCOME100").member is None
    for coupon in Coupon.objects.annotate(
        used=Count("redemptions", filter=Q(redemptions__status=CouponRedemption.Status.REDEEMED))
    ):
        assert coupon.times_used == coupon.used
        assert coupon.max_uses is None or coupon.times_used <= coupon.max_uses
    for campaign in CouponCampaign.objects.annotate(used=Sum("coupons__times_used")):
        assert campaign.redeemed_count == campaign.used
    unique = Coupon.objects.exclude(member=None)
    assert WalletCoupon.objects.filter(coupon__in=unique, member=F("coupon__member")).count() == unique.count()
    assert WalletCoupon.objects.count() > 300
    assert not CouponRedemption.objects.exclude(reference__in=Purchase.objects.values("reference")).exists()

    # referrals: a member who joined earlier, rewarded on the new member's first order
    referred = Member.objects.exclude(referred_by=None)
    assert referred.count() > 50
    assert not referred.filter(referred_by__created_at__gte=F("created_at")).exists()
    assert ReferralReward.objects.count() == referred.filter(purchases__isnull=False).distinct().count()


def assert_demo_orders() -> None:
    """Four months of orders in every channel and state, made by the services and dated afterwards."""
    now = timezone.now()
    orders = Order.objects.all()
    assert dict(orders.values_list("status").annotate(n=Count("id")).values_list("status", "n")) == {
        "completed": 61,
        "partially_returned": 4,
        "returned": 2,
        "ready_for_pickup": 3,
        "fulfilling": 2,
        "paid": 2,
        "pending_payment": 3,
        "cancelled": 4,
    }
    assert sorted(
        orders.values_list("channel__code", "fulfilment")
        .annotate(n=Count("id"))
        .values_list("channel__code", "fulfilment", "n")
    ) == [
        ("APP", "pickup", 7),
        ("APP", "ship", 11),
        ("POS", "counter", 33),
        ("POS", "ship", 3),  # endless aisle
        ("SHOPEE", "ship", 4),
        ("WEB", "pickup", 7),
        ("WEB", "ship", 16),
    ]
    assert orders.exclude(member=None).count() == 69
    assert orders.filter(points_redeemed__gt=0).count() == 7
    assert orders.exclude(coupon_code="").count() == 1

    # spread over the last four months, each step after the one before
    assert {(now - o.placed_at).days // 30 for o in orders} == {0, 1, 2, 3}
    assert not orders.filter(placed_at__lt=now - relativedelta(days=121)).exists()
    for order in orders.prefetch_related("history", "fulfilments"):
        steps = [h.at for h in order.history.all()]
        assert steps == sorted(steps) and steps[-1] <= now
        assert 0 <= (steps[0] - order.placed_at).total_seconds() < 1  # written in the same step
        assert [h.to_status for h in order.history.all()][-1] == order.status
        if order.paid_at:
            assert order.placed_at < order.paid_at <= (order.completed_at or now)
            assert all(order.paid_at < f.at <= (order.completed_at or now) for f in order.fulfilments.all())
        assert abs((order.pay_by - order.placed_at).total_seconds() - 30 * 60) < 1  # dated with its order

    # pickups: one collected in two batches (分批取貨); two on their way from the warehouse, one arrived
    batches = orders.filter(fulfilment="pickup").annotate(n=Count("fulfilments")).filter(n__gt=1)
    assert [(o.status, o.n) for o in batches] == [("completed", 2)]
    waiting = Transfer.objects.filter(kind="customer_order")
    assert sorted(waiting.values_list("status", flat=True)) == [
        "cancelled",
        "received",
        "received",
        "received",
        "shipped",
        "shipped",
    ]
    for transfer in waiting.filter(status="shipped"):
        number = transfer.reservation_reference.split(":")[0]
        assert orders.get(number=number).status == "fulfilling"
    arrived = [orders.get(number=t.reservation_reference.split(":")[0]) for t in waiting.filter(status="received")]
    assert sorted(o.status for o in arrived) == ["completed", "completed", "ready_for_pickup"]

    # ship-from-store (門市出貨) and endless aisle (sold in a store, shipped from a warehouse)
    from_stores = Fulfilment.objects.filter(kind="shipment", location__kind="store")
    assert sorted(from_stores.values_list("order__channel__code", "order__status")) == [("WEB", "completed")] * 3
    aisle = orders.filter(channel__code="POS", fulfilment="ship")
    assert all(o.store and o.clerk for o in aisle)
    assert set(Fulfilment.objects.filter(order__in=aisle).values_list("location__kind", flat=True)) == {"warehouse"}

    # returns: a web order returned in a store, partial returns, one to store credit
    returns = Return.objects.all()
    assert returns.count() == 7
    assert returns.filter(order__channel__code="WEB", channel__code="POS").exclude(store=None).count() == 3
    assert returns.filter(order__status="partially_returned").count() == 4
    assert returns.filter(refund_to="store_credit").count() == 1
    for order in orders.filter(status__in=["returned", "partially_returned", "cancelled"]).exclude(paid_at=None):
        assert order.refunded_total == sum(r.amount for r in order.refunds.all())
    assert not orders.filter(status="returned").exclude(refunded_total=F("paid_total")).exists()

    # the outbox announced every order and every payment
    events = OutboxEvent.objects.filter(aggregate_type="order")
    assert events.filter(event_type="order.created").count() == orders.count()
    assert events.filter(event_type="order.paid").count() == orders.exclude(paid_at=None).count()


def assert_stock_books_balance() -> None:
    """On hand equals the movements and reserved the active reservations, for every SKU and location
    (and lot): the orders moved stock only through the services."""

    def sums(rows, *keys):
        return {tuple(r[:-1]): r[-1] for r in rows.values(*keys).annotate(s=Sum("quantity")).values_list(*keys, "s")}

    moved = sums(StockMovement.objects.all(), "variant", "location")
    held = sums(Reservation.objects.filter(status="active"), "variant", "location")
    levels = StockLevel.objects.values_list("variant", "location", "on_hand", "reserved")
    assert {(v, loc): on_hand for v, loc, on_hand, _r in levels} == {k: n for k, n in moved.items()} | {
        (v, loc): 0 for v, loc, on_hand, _r in levels if (v, loc) not in moved
    }
    assert {(v, loc): r for v, loc, _h, r in levels if r} == {k: n for k, n in held.items() if n}
    by_lot = sums(StockMovement.objects.exclude(lot=None), "lot", "location")
    assert {(lot, loc): n for lot, loc, n in LotStock.objects.values_list("lot", "location", "on_hand")} == by_lot
    # held for the orders not handed over yet (what a fulfilling pickup waits for left with its transfer)
    waiting = Order.objects.filter(status__in=["pending_payment", "paid", "ready_for_pickup"])
    assert set(Reservation.objects.filter(status="active").values_list("reference", flat=True)) == set(
        waiting.values_list("number", flat=True)
    )
