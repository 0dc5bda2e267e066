"""The member's marketing data in their PDPA export, and what erasing the member removes here.

Registered with ``members.privacy`` (EXPORT_SECTIONS, ERASURE_HOOKS) by the app config, since members
sits below marketing. Erasure keeps the figures campaigns and events are judged by (who was sent what
and when, under the member number; a review's rating; who came to an event) and removes what the person
wrote or what was worked out about them: review titles and words, provider ids and send details, RFM
scores, category affinities, and segment stays.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from marketing.models import CampaignRecipient, CategoryAffinity, EventAttendance, MemberRFM, Review, SegmentMembership


def _plain(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def marketing_export(member) -> dict[str, list[dict]]:
    reviews = Review.objects.filter(member=member).select_related("product", "channel", "store").order_by("id")
    events = EventAttendance.objects.filter(member=member).select_related("event", "event__store").order_by("id")
    messages = CampaignRecipient.objects.filter(member=member).select_related("campaign").order_by("id")
    stays = SegmentMembership.objects.filter(member=member).select_related("segment").order_by("entered_at", "id")
    rfm = MemberRFM.objects.filter(member=member).first()
    return {
        "reviews": [
            {
                "product": r.product.style_code,
                "rating": r.rating,
                "title": r.title,
                "body": r.body,
                "channel": r.channel.code,
                "store": r.store.code if r.store_id else None,
                "status": r.status,
                "written_at": _plain(r.created_at),
            }
            for r in reviews
        ],
        "events": [
            {
                "event": a.event.name,
                "store": a.event.store.code if a.event.store_id else None,
                "starts_at": _plain(a.event.starts_at),
                "status": a.status,
                "registered_at": _plain(a.registered_at),
                "attended_at": _plain(a.attended_at),
            }
            for a in events
        ],
        "campaign_messages": [
            {
                "campaign": m.campaign.name,
                "channel": m.campaign.channel,
                "subject": m.campaign.subject,
                "message": m.campaign.message,
                "group": m.group,
                "status": m.status,
                "coupon_code": m.coupon_code,
                "sent_at": _plain(m.sent_at),
            }
            for m in messages
        ],
        "segments": [
            {"segment": s.segment.name, "entered_at": _plain(s.entered_at), "left_at": _plain(s.left_at)} for s in stays
        ],
        "rfm": (
            {
                "computed_on": _plain(rfm.computed_on),
                "recency_days": rfm.recency_days,
                "frequency": rfm.frequency,
                "monetary": _plain(rfm.monetary),
                "r": rfm.r,
                "f": rfm.f,
                "m": rfm.m,
            }
            if rfm
            else None
        ),
        "category_affinity": [
            {"category": a.category.path, "share": _plain(a.share), "spend": _plain(a.spend)}
            for a in CategoryAffinity.objects.filter(member=member).select_related("category").order_by("rank")
        ],
    }


def marketing_erase_personal_data(member_ids: list[int]) -> None:
    Review.objects.filter(member_id__in=member_ids).update(title="", body="", moderation_note="")
    CampaignRecipient.objects.filter(member_id__in=member_ids).update(detail="", provider_id="")
    SegmentMembership.objects.filter(member_id__in=member_ids).delete()
    MemberRFM.objects.filter(member_id__in=member_ids).delete()
    CategoryAffinity.objects.filter(member_id__in=member_ids).delete()
