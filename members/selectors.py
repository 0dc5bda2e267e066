"""Reads of the members app, and the masking of personal data for store staff."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils import timezone

from members.models import Identity, Member, PointsEntry, ProfileField, ProfileGroup
from members.services import normalize_phone


def mask_phone(e164: str | None) -> str:
    """``+886912345678`` -> ``0912-***-678`` (a Taiwanese mobile), else the last three digits only."""
    if not e164:
        return ""
    if e164.startswith("+886") and len(e164) == 13:
        local = "0" + e164[4:]
        return f"{local[:4]}-***-{local[-3:]}"
    return "*" * (len(e164) - 3) + e164[-3:]


def mask_email(email: str | None) -> str:
    if not email:
        return ""
    name, _at, domain = email.partition("@")
    return f"{name[:1]}***@{domain}"


def mask_name(name: str) -> str:
    """``王小明`` -> ``王*明``; a short name keeps its first character."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def member_by_phone(raw_phone: str) -> Member | None:
    """One indexed lookup by the normalised phone (a clerk typing 0912-345-678)."""
    return Member.objects.filter(phone=normalize_phone(raw_phone), status=Member.Status.ACTIVE).first()


def member_by_code(code: str) -> Member | None:
    """By member number (the member QR carries it) or by an identity ``provider:id``."""
    code = code.strip()
    if ":" in code:
        provider, _sep, external_id = code.partition(":")
        identity = Identity.objects.select_related("member").filter(provider=provider, external_id=external_id).first()
        return identity.member if identity else None
    return Member.objects.filter(member_no=code).first()


def points_history(*, member: Member) -> QuerySet[PointsEntry]:
    return PointsEntry.objects.filter(member=member).order_by("-id")


@dataclass
class ProfileDefinitions:
    """The active profile fields of the member themselves, and the active groups, each with its active
    fields in ``group.active_fields``; everything in position order."""

    fields: list[ProfileField]
    groups: list[ProfileGroup]


def profile_definitions() -> ProfileDefinitions:
    """In two queries, however many groups and fields there are."""
    groups = list(ProfileGroup.objects.filter(is_active=True).order_by("position", "key"))
    by_id = {group.pk: group for group in groups}
    for group in groups:
        group.active_fields = []
    fields = []
    for field in (
        ProfileField.objects.filter(is_active=True)
        .filter(Q(group__isnull=True) | Q(group__is_active=True))
        .order_by("position", "key", "pk")
    ):
        if field.group_id is None:
            fields.append(field)
        elif field.group_id in by_id:  # else its group was activated between the two queries
            by_id[field.group_id].active_fields.append(field)
    return ProfileDefinitions(fields=fields, groups=groups)


def profile_fields(*, group: ProfileGroup | None = None) -> list[ProfileField]:
    """The active fields of ``group`` (``None``: of the member themselves), in position order."""
    return list(ProfileField.objects.filter(group=group, is_active=True).order_by("position", "key", "pk"))


def profile_values_shown(fields: list[ProfileField], values: dict | None) -> dict:
    """The stored values of these (active) fields only: a field HQ deactivated keeps its values stored,
    hidden, so a frontend that sends back what it read is not refused for an unknown field."""
    values = values or {}
    return {field.key: values[field.key] for field in fields if field.key in values}


# --- member 360 -------------------------------------------------------------------------------------


# Apps above members add their own parts of the member page here (clerk attribution: the bindings);
# each is called with the member and returns {"title", "headers", "rows"}.
MEMBER_360_SECTIONS: list = []


def member_360(member: Member) -> dict:
    """Everything HQ sees on the member page, each part one explicit query (about 15 in all, however
    long the member's history): tier and its history, purchases from every channel with the OMO
    segment, points, coupons, identities, consents in force, profile values and group entries,
    referrals, merges and open duplicate suspicions."""
    from django.db.models import Count, F, Sum

    from members.loyalty import segment_of
    from members.models import (
        Consent,
        CouponRedemption,
        DuplicateCandidate,
        MemberMerge,
        MemberTier,
        PointsLot,
        ProfileEntry,
        Purchase,
        ReferralReward,
        TierChange,
        WalletCoupon,
    )
    from members.profiles import profile_display
    from omo.org.models import SalesChannel

    today = timezone.localdate()
    by_channel = list(
        Purchase.objects.filter(member=member)
        .values("channel__code", "channel__name", "channel__kind")
        .annotate(orders=Count("id"), net=Sum(F("amount") - F("refunded")))
        .order_by("channel__code")
    )
    for row in by_channel:
        row["online"] = row["channel__kind"] in SalesChannel.ONLINE_KINDS
    consents = {}
    for purpose, granted, recorded_at in (
        Consent.objects.filter(member=member)
        .order_by("purpose", "-id")
        .values_list("purpose", "granted", "recorded_at")
    ):
        consents.setdefault(purpose, (granted, recorded_at))
    definitions = profile_definitions()
    groups = {group.pk: group for group in definitions.groups}
    entries = [
        (groups[e.group_id].label, profile_display(fields=groups[e.group_id].active_fields, values=e.values))
        for e in ProfileEntry.objects.filter(member=member, group_id__in=groups).order_by("group_id", "id")
    ]
    return {
        "tier": MemberTier.objects.select_related("tier").filter(member=member).first(),
        "tier_history": list(
            TierChange.objects.filter(member=member).select_related("from_tier", "to_tier").order_by("-id")[:20]
        ),
        "segment": segment_of({row["channel__kind"] for row in by_channel}),
        "by_channel": by_channel,
        "purchases": list(
            Purchase.objects.filter(member=member).select_related("channel", "store").order_by("-paid_at")[:30]
        ),
        "points_entries": list(points_history(member=member).select_related("created_by")[:30]),
        "points_lots": list(
            PointsLot.objects.filter(member=member, remaining__gt=0, expires_on__gte=today).order_by("expires_on")
        ),
        "wallet": list(
            WalletCoupon.objects.filter(member=member)
            .select_related("coupon__campaign", "collected_channel", "collected_store")
            .order_by("-id")[:30]
        ),
        "redemptions": list(
            CouponRedemption.objects.filter(member=member)
            .select_related("coupon", "channel", "store")
            .order_by("-id")[:30]
        ),
        "identities": list(Identity.objects.filter(member=member).order_by("provider", "id")),
        "consents": sorted(consents.items()),
        "profile": profile_display(fields=definitions.fields, values=member.profile),
        "profile_entries": entries,
        "referrals": list(
            Member.objects.filter(referred_by=member).annotate(
                rewarded=Count("referral_reward", filter=Q(referral_reward__reversed_at__isnull=True))
            )[:30]
        ),
        "referral_reward": ReferralReward.objects.filter(referred=member).select_related("referrer").first(),
        "merged_in": list(MemberMerge.objects.filter(survivor=member).select_related("merged", "merged_by")),
        "duplicates": list(
            DuplicateCandidate.objects.filter(
                Q(first=member) | Q(second=member), status=DuplicateCandidate.Status.OPEN
            ).select_related("first", "second")
        ),
        "sections": [section(member) for section in MEMBER_360_SECTIONS],
    }
