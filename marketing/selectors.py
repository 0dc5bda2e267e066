"""Marketing reads: a live count of what rules would select, saved segments, their members and history."""

from __future__ import annotations

from django.db.models import Count, F, QuerySet

from marketing.models import Campaign, Segment, SegmentMembership, SegmentRun
from marketing.rules import members_matching
from members.models import Member

SAMPLE = 20


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
    rows = campaign.recipients.values("group", "status").annotate(n=Count("id")).order_by()
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r["group"], {})[r["status"]] = r["n"]
    return out
