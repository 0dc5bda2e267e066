"""Personal data (Taiwan PDPA): a member's data export, erasure that keeps the figures, and deletion,
allowed only for a member with no history.

Erasure removes who the person is (name, phone, email, birthday, profile, identities, consents,
wishlist, log-in codes, duplicate suspicions, the details kept by earlier merges) and keeps what the
business must keep (orders, purchases, points ledger, coupon redemptions, tier history) under the
pseudonymous member number. Remaining points are forfeited with a ledger entry.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.forms.models import model_to_dict
from django.utils import timezone
from django.utils.translation import gettext as _

from members.merging import member_relations
from members.models import (
    Consent,
    CouponRedemption,
    DuplicateCandidate,
    Identity,
    LoginCode,
    Member,
    MemberErasure,
    MemberMerge,
    PointsEntry,
    PointsLot,
    ProfileEntry,
    Purchase,
    ReferralReward,
    TierChange,
    WalletCoupon,
    WishlistItem,
)
from omo.core.errors import BusinessRuleError, ConflictError
from omo.org.access import ensure_permission

# Apps above members (orders keep shipping addresses) register here what erasure must also remove:
# callables taking the ids of the members being erased, run inside the erasure's transaction.
ERASURE_HOOKS: list = []
# ... and what the export adds: (section name, callable taking the member and returning JSON-ready data)
EXPORT_SECTIONS: list = []


def _plain(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _rows(queryset, fields: list[str]) -> list[dict]:
    return [{k: _plain(v) for k, v in row.items()} for row in queryset.values(*fields)]


def member_export(*, member: Member) -> dict:
    """Everything held about the person, as plain JSON-ready data: details, identities, consents,
    profile, points (ledger and lots), coupons, tier history, purchases, wishlist, referrals, the
    details of members merged into this one, rows of other apps (orders, bindings) that point at
    the member, and the sections apps above register (``marketing``: reviews, events, campaign
    messages, segments, scores)."""
    merged_in = MemberMerge.objects.filter(survivor=member).select_related("merged")
    data = {
        "exported_at": timezone.now().isoformat(),
        "member": {
            "member_no": member.member_no,
            "status": member.status,
            "name": member.name,
            "phone": member.phone,
            "email": member.email,
            "birthday": _plain(member.birthday),
            "referral_code": member.referral_code,
            "referred_by": member.referred_by.member_no if member.referred_by_id else None,
            "registered_channel": member.registered_channel.code if member.registered_channel_id else None,
            "registered_store": member.registered_store.code if member.registered_store_id else None,
            "joined_at": _plain(member.created_at),
            "points_balance": member.points_balance,
            "profile": member.profile,
        },
        "profile_entries": [
            {"group": e.group.key, "values": e.values, "created_at": _plain(e.created_at)}
            for e in ProfileEntry.objects.filter(member=member).select_related("group")
        ],
        "identities": _rows(Identity.objects.filter(member=member), ["provider", "external_id", "created_at"]),
        "consents": _rows(
            Consent.objects.filter(member=member).order_by("id"), ["purpose", "granted", "source", "recorded_at"]
        ),
        "points_entries": _rows(
            PointsEntry.objects.filter(member=member).order_by("id"),
            ["created_at", "kind", "points", "balance_after", "reference", "reason"],
        ),
        "points_lots": _rows(
            PointsLot.objects.filter(member=member).order_by("expires_on", "id"),
            ["earned", "remaining", "expires_on", "reference"],
        ),
        "coupons": _rows(
            WalletCoupon.objects.filter(member=member).order_by("id"),
            ["coupon__code", "coupon__campaign__name", "coupon__times_used", "collected_at"],
        ),
        "coupon_redemptions": _rows(
            CouponRedemption.objects.filter(member=member).order_by("id"),
            ["coupon__code", "reference", "discount", "status", "redeemed_at"],
        ),
        "tier_history": _rows(
            TierChange.objects.filter(member=member).order_by("id"),
            ["changed_at", "from_tier__name", "to_tier__name", "spend_12m", "reason"],
        ),
        "purchases": _rows(
            Purchase.objects.filter(member=member).order_by("paid_at"),
            ["reference", "channel__code", "store__code", "amount", "refunded", "paid_at"],
        ),
        "wishlist": _rows(WishlistItem.objects.filter(member=member).order_by("id"), ["variant__sku", "added_at"]),
        "referrals": _rows(
            ReferralReward.objects.filter(referrer=member).order_by("id"),
            ["referred__member_no", "points", "created_at"],
        ),
        "merged_members": [m.merged_values | {"merged_at": _plain(m.merged_at)} for m in merged_in],
        "merged_members_points": _rows(
            PointsEntry.objects.filter(member__merged_into=member).order_by("id"),
            ["member__member_no", "created_at", "kind", "points", "reference", "reason"],
        ),
        "referred_reward": _rows(
            ReferralReward.objects.filter(referred=member), ["referrer__member_no", "welcome_points", "created_at"]
        ),
        "login_codes": _rows(
            LoginCode.objects.filter(phone=member.phone).order_by("id") if member.phone else LoginCode.objects.none(),
            ["created_at", "expires_at", "attempts", "used_at"],
        ),
        "other_records": _other_records(member),
    }
    for name, section in EXPORT_SECTIONS:
        data[name] = section(member)
    return data


def _other_records(member: Member) -> dict[str, list[dict]]:
    """Rows of other apps that point at the member (orders, bindings ...), whatever they are."""
    out: dict[str, list[dict]] = {}
    for model, field_name in member_relations():
        if model._meta.app_label == "members":
            continue
        rows = [
            {k: _plain(v) for k, v in model_to_dict(obj).items()}
            for obj in model._base_manager.filter(**{field_name: member}).order_by("pk")[:10_000]
        ]
        if rows:
            out[model._meta.label_lower] = rows
    return out


@transaction.atomic
def member_erase(*, member: Member, actor, reason: str) -> MemberErasure:
    """Erases the person's personal data (see the module docstring). Refused for a member merged into
    another (erase the survivor) and for one already erased."""
    ensure_permission(actor, "members.add_membererasure")
    if not (reason or "").strip():
        raise BusinessRuleError(_("Say why the data is erased (e.g. the request's reference)."), code="reason_required")
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.status == Member.Status.ERASED:
        raise ConflictError(_("This member's data is already erased."), code="already_erased")
    if member.status == Member.Status.MERGED:
        raise BusinessRuleError(
            _("This member was merged into %(no)s; erase that member.") % {"no": member.merged_into.member_no},
            code="member_merged",
        )
    forfeited = member.points_balance
    if forfeited:
        PointsLot.objects.filter(member=member, remaining__gt=0).update(remaining=0)
        PointsEntry.objects.create(
            member=member,
            kind=PointsEntry.Kind.ADJUST,
            points=-forfeited,
            balance_after=0,
            reference="erasure",
            reason=_("personal data erased"),
            created_by=actor,
        )
    # the same person under every number merged into this one (chains are flattened by merges)
    people = [member.pk, *Member.objects.filter(merged_into=member).values_list("pk", flat=True)]
    records = MemberMerge.objects.filter(Q(merged_id__in=people) | Q(survivor_id__in=people))
    phones = [member.phone, *(v.get("phone") for v in records.values_list("merged_values", flat=True))]
    Identity.objects.filter(member_id__in=people).delete()
    Consent.objects.filter(member_id__in=people).delete()
    WishlistItem.objects.filter(member_id__in=people).delete()
    ProfileEntry.objects.filter(member_id__in=people).delete()
    WalletCoupon.objects.filter(member_id__in=people).delete()
    LoginCode.objects.filter(phone__in=[p for p in phones if p]).delete()
    DuplicateCandidate.objects.filter(Q(first_id__in=people) | Q(second_id__in=people)).delete()
    records.update(merged_values={"erased": True})
    for hook in ERASURE_HOOKS:
        hook(people)
    Member.objects.filter(pk__in=people).update(
        name="", phone=None, email=None, birthday=None, profile={}, updated_at=timezone.now()
    )
    Member.objects.filter(pk=member.pk).update(status=Member.Status.ERASED, points_balance=0)
    return MemberErasure.objects.create(
        member=member, reason=reason.strip()[:200], points_forfeited=forfeited, erased_by=actor
    )


# What may go with a member that is deleted outright; anything else is history that must stay.
_PERSONAL_ONLY = {"identity", "consent", "wishlistitem", "profileentry", "walletcoupon", "duplicatecandidate"}


@transaction.atomic
def member_delete(*, member: Member, actor) -> None:
    """Deletes a member who has no history at all (a sign-up by mistake). A member with orders,
    purchases, points or coupon use is a 409 ``member_has_history``: erase their data instead."""
    ensure_permission(actor, "members.delete_member")
    member = Member.objects.select_for_update().get(pk=member.pk)
    held = []
    for model, field_name in member_relations():
        if model._meta.app_label == "members" and model._meta.model_name in _PERSONAL_ONLY:
            continue
        if model._base_manager.filter(**{field_name: member}).exists():
            held.append(model._meta.verbose_name_plural)
    if held:
        raise ConflictError(
            _("Member %(no)s has history (%(what)s) and cannot be deleted; erase their personal data instead.")
            % {"no": member.member_no, "what": ", ".join(str(h) for h in held)},
            code="member_has_history",
            details={"held": [str(h) for h in held]},
        )
    DuplicateCandidate.objects.filter(Q(first=member) | Q(second=member)).delete()
    WalletCoupon.objects.filter(member=member).delete()
    member.delete()
