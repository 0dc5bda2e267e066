"""Marketing reads: a live count of what rules would select, saved segments, their members and history."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db.models import Case, Count, DecimalField, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum, Value, When

from marketing.models import Campaign, CampaignRecipient, Segment, SegmentMembership, SegmentRun
from marketing.rules import members_matching
from members.models import Member

SAMPLE = 20
CENT = Decimal("0.01")


def rules_preview(rules: dict, *, sample: int = SAMPLE) -> dict:
    """The live count of the members the rules select now, and the first few of them (two queries)."""
    members = members_matching(rules)
    return {
        "count": members.count(),
        "sample": list(members.select_related("registered_store")[:sample]),
    }


def segment_list() -> QuerySet[Segment]:
    return Segment.objects.select_related("created_by", "updated_by").order_by("name")


def segment_members(segment: Segment) -> QuerySet[Member]:
    """The members in the segment as its last evaluation found them."""
    return (
        Member.objects.filter(
            pk__in=SegmentMembership.objects.filter(segment=segment, left_at__isnull=True).values("member_id")
        )
        .select_related("registered_store")
        .order_by("pk")
    )


def segment_runs(segment: Segment) -> QuerySet[SegmentRun]:
    return SegmentRun.objects.filter(segment=segment).select_related("by").order_by("-at", "-id")


def member_segments(member: Member) -> QuerySet[SegmentMembership]:
    """A member's stays in segments, the current ones first (for the member 360 page)."""
    return (
        SegmentMembership.objects.filter(member=member)
        .select_related("segment")
        .order_by(F("left_at").desc(nulls_first=True), "-entered_at")
    )


def campaign_list() -> QuerySet[Campaign]:
    return Campaign.objects.select_related("segment").order_by("-created_at", "-id")


def campaign_summary(campaign: Campaign) -> dict:
    """Recipients by group and status."""
    return campaign_summaries([campaign.pk]).get(campaign.pk, {})


def campaign_summaries(campaign_ids: list[int]) -> dict[int, dict]:
    """Recipients by group and status of each campaign, in one query (for lists)."""
    rows = (
        CampaignRecipient.objects.filter(campaign_id__in=campaign_ids)
        .values("campaign_id", "group", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    out: dict[int, dict[str, dict[str, int]]] = {}
    for r in rows:
        out.setdefault(r["campaign_id"], {}).setdefault(r["group"], {})[r["status"]] = r["n"]
    return out


def campaign_results(campaign: Campaign) -> dict:
    """What the campaign changed, against its control group, over the ``attribution_days`` after launch:
    per group (target: everyone the campaign meant to reach, reached or not; control: held out) the
    members, those reached, the coupon codes redeemed, the buyers, orders and revenue (paid less
    refunded) in every channel; the uplift (conversion and revenue per member, target less control) and
    the incremental revenue it implies (the difference per member x the target's members); and orders
    and revenue per store (online orders shipped home count as "online") and per channel. Four queries."""
    from members.models import CouponRedemption, Purchase

    out: dict = {"groups": {}, "by_store": [], "by_channel": [], "uplift": None}
    if campaign.launched_at is None:
        return out
    start, end = campaign.launched_at, campaign.launched_at + timedelta(days=campaign.attribution_days)
    R = CampaignRecipient
    recipients = campaign.recipients.all()
    groups = {
        r["group"]: {"members": r["members"], "reached": r["reached"]}
        for r in recipients.values("group")
        .annotate(members=Count("id"), reached=Count("id", filter=Q(status=R.Status.SENT)))
        .order_by()
    }
    bought = Purchase.objects.filter(
        paid_at__gte=start, paid_at__lt=end, member__in=recipients.values("member_id")
    ).annotate(group=Subquery(recipients.filter(member_id=OuterRef("member_id")).values("group")[:1]))
    revenue = Sum(F("amount") - F("refunded"), output_field=DecimalField(max_digits=16, decimal_places=2))
    for r in (
        bought.values("group")
        .annotate(buyers=Count("member_id", distinct=True), orders=Count("id"), revenue=revenue)
        .order_by()
    ):
        groups.setdefault(r["group"], {"members": 0, "reached": 0}).update(
            buyers=r["buyers"], orders=r["orders"], revenue=r["revenue"]
        )
    codes = CouponRedemption.objects.filter(
        status=CouponRedemption.Status.REDEEMED, coupon__campaign_id=campaign.coupon_campaign_id,
        member__in=recipients.filter(group=R.Group.TARGET).values("member_id"), redeemed_at__gte=start,
        redeemed_at__lt=end,
    ).count() if campaign.coupon_campaign_id else 0  # fmt: skip
    for name, g in groups.items():
        g.setdefault("buyers", 0)
        g.setdefault("orders", 0)
        g["revenue"] = (g.get("revenue") or Decimal("0")).quantize(CENT)
        g["conversion"] = ratio(g["buyers"], g["members"])
        g["revenue_per_member"] = (g["revenue"] / g["members"]).quantize(CENT) if g["members"] else None
        g["codes_redeemed"] = codes if name == R.Group.TARGET else 0
    out["groups"] = groups
    target, control = groups.get(R.Group.TARGET), groups.get(R.Group.CONTROL)
    if target and control and control["members"]:
        per_member = target["revenue_per_member"] - control["revenue_per_member"]
        out["uplift"] = {
            "conversion": target["conversion"] - control["conversion"],
            "revenue_per_member": per_member,
            "incremental_revenue": (per_member * target["members"]).quantize(CENT),
        }
    for key, field in (("by_store", "store__code"), ("by_channel", "channel__code")):
        rows: dict = {}
        for r in bought.values("group", field).annotate(orders=Count("id"), revenue=revenue).order_by():
            row = rows.setdefault(r[field] or "online", {"where": r[field] or "online"})
            row[f"{r['group']}_orders"] = r["orders"]
            row[f"{r['group']}_revenue"] = r["revenue"].quantize(CENT)
        out[key] = sorted(rows.values(), key=lambda row: row["where"])
    return out


def ratio(part, whole) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001")) if whole else None


def clerk_outreach(*, clerk, now=None) -> list[dict]:
    """For the POS: the members of campaigns still in their attribution window (target group) who were
    sent the message, still consent to the campaign's channel and are bound to ``clerk`` now, the latest
    campaign first: the clerk follows up in person or on LINE. Phones masked; whether a code went with
    the message, never the code (the member shows it)."""
    from django.utils import timezone

    from marketing.campaigns import CONSENT
    from marketing.rules import active_bindings
    from members.models import Consent
    from members.selectors import mask_phone

    now = now or timezone.now()
    latest = Consent.objects.filter(member=OuterRef("member_id"), purpose=OuterRef("wanted")).order_by("-id")
    rows = (
        CampaignRecipient.objects.filter(
            Exists(active_bindings(now, member=OuterRef("member_id")).filter(clerk=clerk)),
            group=CampaignRecipient.Group.TARGET,
            status=CampaignRecipient.Status.SENT,
            campaign__status__in=(Campaign.Status.SENDING, Campaign.Status.SENT),
            campaign__launched_at__gte=now - timedelta(days=90),
        )
        .annotate(
            wanted=Case(*(When(campaign__channel=ch, then=Value(p)) for ch, p in CONSENT.items()), default=None),
            consenting=Subquery(latest.values("granted")[:1]),
        )
        .select_related("campaign", "member")
        .order_by("-campaign__launched_at", "member__name", "pk")
    )
    out = []
    for r in rows:
        if r.campaign.launched_at + timedelta(days=r.campaign.attribution_days) < now:
            continue
        if r.campaign.channel in CONSENT and not r.consenting:
            continue  # said no since (or never said yes: a message sent before consent rules changed)
        out.append({
            "campaign": r.campaign.name, "channel": r.campaign.get_channel_display(), "status": r.get_status_display(),
            "member_no": r.member.member_no, "name": r.member.name, "phone": mask_phone(r.member.phone),
            "has_code": bool(r.coupon_code),
            "until": r.campaign.launched_at + timedelta(days=r.campaign.attribution_days),
        })  # fmt: skip
    return out


def product_recommendations(product) -> list[dict]:
    """Active products most often in the same order as ``product`` (the nightly table)."""
    from marketing.models import BoughtTogether

    rows = (
        BoughtTogether.objects.filter(product=product, other__status="active").select_related("other").order_by("rank")
    )
    return [
        {"style_code": r.other.style_code, "name": r.other.name, "orders": r.orders, "confidence": r.confidence}
        for r in rows
    ]


def member_recommendations(member, *, limit: int = 10) -> dict:
    """The member's category affinity, and products to suggest: those most often bought with what they
    bought in their last three orders, leaving out what they have bought. Three queries."""
    from marketing.models import BoughtTogether, CategoryAffinity
    from orders.models import Order, OrderLine

    affinity = [
        {"category": a.category.path, "name": a.category.name, "share": a.share, "spend": a.spend}
        for a in CategoryAffinity.objects.filter(member=member).select_related("category").order_by("rank")
    ]
    recent = Order.objects.filter(member=member, paid_at__isnull=False).order_by("-paid_at").values("pk")[:3]
    bought = OrderLine.objects.filter(order__member=member).values("variant__product_id")
    seeds = OrderLine.objects.filter(order__in=Subquery(recent)).values("variant__product_id")
    suggested = (
        BoughtTogether.objects.filter(product_id__in=seeds, other__status="active")
        .exclude(other_id__in=bought)
        .values("other__style_code", "other__name")
        .annotate(orders=Sum("orders"))
        .order_by("-orders", "other__style_code")[:limit]
    )
    return {
        "affinity": affinity,
        "products": [
            {"style_code": r["other__style_code"], "name": r["other__name"], "orders": r["orders"]} for r in suggested
        ],
    }


def product_reviews(product) -> dict:
    """The approved reviews of a product, newest first, with their count and average rating."""
    from django.db.models import Avg

    from marketing.models import Review

    approved = Review.objects.filter(product=product, status=Review.Status.APPROVED)
    summary = approved.aggregate(count=Count("id"), average=Avg("rating"))
    average = summary["average"]
    return {
        "count": summary["count"],
        "average": None if average is None else Decimal(str(average)).quantize(Decimal("0.1")),
        "reviews": list(approved.select_related("product", "member", "channel").order_by("-created_at", "-id")[:50]),
    }


def events_with_taken() -> QuerySet:
    """Events with their store and ``taken``, the places signed up for (not cancelled), in one query."""
    from marketing.models import EventAttendance, StoreEvent

    return StoreEvent.objects.select_related("store").annotate(
        taken=Count("attendances", filter=~Q(attendances__status=EventAttendance.Status.CANCELLED))
    )


def events_coming(*, now=None) -> QuerySet:
    """The events not over yet, the soonest first (one query)."""
    from django.utils import timezone

    return events_with_taken().filter(ends_at__gt=now or timezone.now()).order_by("starts_at", "id")


def member_engagement(member) -> list[tuple]:
    """(when, kind, what) of the member's activity beyond purchases, newest first, for the member 360
    page: reviews, events, members they brought in, coupons they collected (the last 20 of each)."""
    from django.utils.translation import gettext as _

    from marketing.models import EventAttendance, Review
    from members.models import WalletCoupon

    rows = []
    for r in Review.objects.filter(member=member).select_related("product").order_by("-created_at")[:20]:
        rows.append((r.created_at, _("review"), f"{r.product.name} {r.rating}★ ({r.get_status_display()})"))
    for a in EventAttendance.objects.filter(member=member).select_related("event").order_by("-registered_at")[:20]:
        rows.append((a.attended_at or a.registered_at, _("event"), f"{a.event.name} ({a.get_status_display()})"))
    for m in Member.objects.filter(referred_by=member).order_by("-created_at")[:20]:
        rows.append((m.created_at, _("referral"), m.member_no))
    for w in (
        WalletCoupon.objects.filter(member=member).select_related("coupon__campaign").order_by("-collected_at")[:20]
    ):
        rows.append((w.collected_at, _("coupon collected"), w.coupon.campaign.name))
    return sorted(rows, key=lambda row: row[0], reverse=True)
