"""One person, one member: finding members who look like the same person and merging them.

A merge folds the *merged* member into the *survivor*: every row that points at the merged member
(orders, points lots, coupons, identities, bindings, profile entries, purchases ... in any app) is moved,
the points balance moves with a ledger entry on both sides, and a ``MemberMerge`` record keeps the
merged member's details. Where both members hold a different value for the same detail (two phones,
two birthdays, two values of a profile field) the merge is refused with a 409 ``merge_conflict`` listing
them, unless HQ says which to keep; the value not kept stays in the merge record, so nothing is lost.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from members.loyalty import rolling_spend, tier_evaluate
from members.models import (
    DuplicateCandidate,
    Member,
    MemberMerge,
    MemberTier,
    PointsEntry,
    ReferralReward,
    Tier,
    TierChange,
    WalletCoupon,
    WishlistItem,
)
from omo.core.errors import BusinessRuleError, ConflictError
from omo.events.services import event_emit
from omo.org.access import ensure_permission

# Details a member has one of; both members holding different values is a conflict.
SINGLE_VALUED = ("name", "phone", "email", "birthday", "referred_by")
KEEP_CHOICES = ("survivor", "merged")

# Relations moved by hand below (unique per member, or history that stays where it was written).
# Everything else that points at a member, in any app, is moved by a plain UPDATE.
_HANDLED = {
    ("members", "pointsentry", "member"),  # the ledger stays; a merge entry on each side moves the balance
    ("members", "tierchange", "member"),  # history of the merged member stays with it
    ("members", "membertier", "member"),
    ("members", "walletcoupon", "member"),
    ("members", "wishlistitem", "member"),
    ("members", "referralreward", "referred"),
    ("members", "duplicatecandidate", "first"),
    ("members", "duplicatecandidate", "second"),
    ("members", "membermerge", "survivor"),  # earlier merges stay as they happened
    ("members", "membermerge", "merged"),
    ("members", "membererasure", "member"),
    ("members", "member", "referred_by"),  # never onto the survivor itself
}


@dataclass
class MergePlan:
    survivor: Member
    merged: Member
    conflicts: list[dict] = field(default_factory=list)
    moves: dict[str, int] = field(default_factory=dict)


def _value(member: Member, name: str):
    if name == "referred_by":
        return member.referred_by_id
    return getattr(member, name) or None


def _display(value) -> str | None:
    return None if value is None else str(value)


def merge_plan(*, survivor: Member, merged: Member, choices: dict[str, str] | None = None) -> MergePlan:
    """What a merge would do: the conflicting details not settled by ``choices`` and how many rows of
    each kind would move. Reads only."""
    choices = choices or {}
    plan = MergePlan(survivor=survivor, merged=merged)
    for name in SINGLE_VALUED:
        mine, theirs = _value(survivor, name), _value(merged, name)
        if mine is not None and theirs is not None and mine != theirs and name not in choices:
            plan.conflicts.append({"field": name, "survivor": _display(mine), "merged": _display(theirs)})
    for key, theirs in sorted((merged.profile or {}).items()):
        mine = (survivor.profile or {}).get(key)
        if mine not in (None, "") and theirs not in (None, "") and mine != theirs and f"profile.{key}" not in choices:
            plan.conflicts.append({"field": f"profile.{key}", "survivor": mine, "merged": theirs})
    if (
        ReferralReward.objects.filter(referred=merged).exists()
        and ReferralReward.objects.filter(referred=survivor).exists()
    ):
        plan.conflicts.append({"field": "referral_reward", "survivor": "rewarded", "merged": "rewarded"})
    for model, field_name in _relations():
        count = model._base_manager.filter(**{field_name: merged}).count()
        if count:
            plan.moves[f"{model._meta.label_lower}.{field_name}"] = count
    return plan


def member_relations():
    """Every (model, field name) of a foreign key to Member, in any installed app (hidden ones too), but
    the audit trail's: its events stay on the row they happened to (append-only)."""
    for rel in Member._meta.get_fields(include_hidden=True):
        if not (rel.auto_created and not rel.concrete and (rel.one_to_many or rel.one_to_one)):
            continue
        if rel.field.concrete and rel.related_model._meta.app_label != "audit":
            yield rel.related_model, rel.field.name


def _relations():
    """The relations a merge moves with a plain UPDATE: all but those handled by hand."""
    for model, field_name in member_relations():
        if (model._meta.app_label, model._meta.model_name, field_name) not in _HANDLED:
            yield model, field_name


@transaction.atomic
def member_merge(*, survivor: Member, merged: Member, actor, choices: dict[str, str] | None = None) -> MemberMerge:
    """Folds ``merged`` into ``survivor`` (see the module docstring). ``choices`` settles conflicts:
    ``{"phone": "merged", "profile.pet_food": "survivor"}``. The total points of the two is kept."""
    ensure_permission(actor, "members.add_membermerge")
    choices = dict(choices or {})
    for name, keep in choices.items():
        if keep not in KEEP_CHOICES:
            raise BusinessRuleError(
                _("Say survivor or merged for %(field)s.") % {"field": name}, code="invalid_merge_choice"
            )
    if survivor.pk == merged.pk:
        raise BusinessRuleError(_("A member cannot be merged into itself."), code="merge_same_member")
    # every member row the merge writes, locked at once in pk order: the two, the members they referred
    # and the members merged into the merged one (purchase_record locks referrer and referred in pk
    # order too, so a first order of someone the merged member referred cannot deadlock with this)
    touched = set(Member.objects.filter(Q(referred_by=merged) | Q(merged_into=merged)).values_list("pk", flat=True)) | {
        survivor.pk,
        merged.pk,
    }
    locked = {m.pk: m for m in Member.objects.select_for_update().filter(pk__in=touched).order_by("pk")}
    survivor, merged = locked[survivor.pk], locked[merged.pk]
    for member in (survivor, merged):
        if member.status != Member.Status.ACTIVE:
            raise BusinessRuleError(
                _("Member %(no)s is no longer active.") % {"no": member.member_no}, code="member_inactive"
            )
    plan = merge_plan(survivor=survivor, merged=merged, choices=choices)
    if plan.conflicts:
        raise ConflictError(
            _("Both members hold different values for %(fields)s; say which to keep.")
            % {"fields": ", ".join(c["field"] for c in plan.conflicts)},
            code="merge_conflict",
            details={"conflicts": plan.conflicts},
        )
    snapshot = {
        "member_no": merged.member_no,
        "name": merged.name,
        "phone": merged.phone,
        "email": merged.email,
        "birthday": merged.birthday.isoformat() if merged.birthday else None,
        "profile": merged.profile,
        "referral_code": merged.referral_code,
        "referred_by": merged.referred_by.member_no if merged.referred_by_id else None,
        "points_balance": merged.points_balance,
        "registered_at": merged.created_at.isoformat(),
    }
    # the details: the survivor keeps its own unless HQ chose the merged member's or it had none
    take = {}
    for name in SINGLE_VALUED:
        theirs = _value(merged, name)
        if theirs is not None and (_value(survivor, name) is None or choices.get(name) == "merged"):
            take[name] = theirs
    profile = dict(survivor.profile or {})
    for key, theirs in (merged.profile or {}).items():
        if profile.get(key) in (None, "") or choices.get(f"profile.{key}") == "merged":
            profile[key] = theirs
    Member.objects.filter(pk=merged.pk).update(phone=None, email=None)  # frees them for the survivor
    for name, value in take.items():
        setattr(survivor, "referred_by_id" if name == "referred_by" else name, value)
    if survivor.referred_by_id in (merged.pk, survivor.pk):
        survivor.referred_by_id = None  # a referral between the two halves of one person
    survivor.profile = profile
    moved: dict[str, int] = {}
    try:
        with transaction.atomic():
            moved.update(_move_rows(survivor, merged))
    except IntegrityError as error:
        raise ConflictError(
            _("Rows of the two members clash: %(error)s") % {"error": str(error).splitlines()[0]},
            code="merge_conflict",
            details={"conflicts": [{"field": "rows", "error": str(error).splitlines()[0]}]},
        ) from None
    points = merged.points_balance
    if points:
        # the lots moved above; the balance moves with one entry on each side
        survivor.points_balance += points
        PointsEntry.objects.bulk_create(
            [
                PointsEntry(
                    member=merged,
                    kind=PointsEntry.Kind.MERGE,
                    points=-points,
                    balance_after=0,
                    reference=f"merge:{survivor.member_no}",
                    reason=_("moved to %(no)s") % {"no": survivor.member_no},
                    created_by=actor,
                ),
                PointsEntry(
                    member=survivor,
                    kind=PointsEntry.Kind.MERGE,
                    points=points,
                    balance_after=survivor.points_balance,
                    reference=f"merge:{merged.member_no}",
                    reason=_("moved from %(no)s") % {"no": merged.member_no},
                    created_by=actor,
                ),
            ]
        )
    survivor.save()
    _drop_self_referral_rewards(survivor, actor)
    if Tier.objects.exists():  # the spend of both halves together may reach a higher tier
        tier_evaluate(member=survivor, spend_12m=rolling_spend(member=survivor))
    Member.objects.filter(pk=merged.pk).update(
        status=Member.Status.MERGED,
        merged_into=survivor,
        points_balance=0,
        profile={},
        referred_by=None,
        updated_at=timezone.now(),
    )
    record = MemberMerge.objects.create(
        survivor=survivor,
        merged=merged,
        merged_values=snapshot,
        moved=moved,
        points_moved=points,
        choices=choices,
        merged_by=actor,
    )
    _settle_candidates(survivor, merged, actor)
    event_emit(
        event_type="member.merged",
        aggregate_type="member",
        aggregate_id=survivor.member_no,
        payload={"member_no": survivor.member_no, "merged_member_no": merged.member_no, "points_moved": points},
    )
    return record


def _move_rows(survivor: Member, merged: Member) -> dict[str, int]:
    moved: dict[str, int] = {}

    def note(label: str, count: int) -> None:
        if count:
            moved[label] = moved.get(label, 0) + count

    # one per member and coupon / variant: the survivor's copy wins, the merged copy is dropped
    held = WalletCoupon.objects.filter(member=survivor).values("coupon_id")
    WalletCoupon.objects.filter(member=merged, coupon_id__in=held).delete()
    note("members.walletcoupon.member", WalletCoupon.objects.filter(member=merged).update(member=survivor))
    saved = WishlistItem.objects.filter(member=survivor).values("variant_id")
    WishlistItem.objects.filter(member=merged, variant_id__in=saved).delete()
    note("members.wishlistitem.member", WishlistItem.objects.filter(member=merged).update(member=survivor))
    note(
        "members.referralreward.referred",
        ReferralReward.objects.filter(referred=merged).update(referred=survivor),
    )
    note(
        "members.member.referred_by",
        Member.objects.filter(referred_by=merged).exclude(pk=survivor.pk).update(referred_by=survivor),
    )
    Member.objects.filter(pk=survivor.pk, referred_by=merged).update(referred_by=None)
    _merge_tiers(survivor, merged)
    for model, field_name in _relations():
        note(
            f"{model._meta.label_lower}.{field_name}",
            model._base_manager.filter(**{field_name: merged}).update(**{field_name: survivor}),
        )
    return moved


def _drop_self_referral_rewards(survivor: Member, actor) -> None:
    """A reward one half of a person earned for referring the other half is taken back."""
    from members.services import points_reverse

    for reward in ReferralReward.objects.select_for_update().filter(
        referrer=survivor, referred=survivor, reversed_at=None
    ):
        points_reverse(member=survivor, reference=reward.reference, actor=actor)
        reward.reversed_at = timezone.now()
        reward.save(update_fields=["reversed_at"])


def _merge_tiers(survivor: Member, merged: Member) -> None:
    """The better tier of the two holds (higher rank, then the later validity)."""
    states = {s.member_id: s for s in MemberTier.objects.select_related("tier").filter(member__in=[survivor, merged])}
    mine, theirs = states.get(survivor.pk), states.get(merged.pk)
    if theirs is None:
        return
    better = mine is None or (theirs.tier.rank, theirs.valid_until or timezone.localdate()) > (
        mine.tier.rank,
        mine.valid_until or timezone.localdate(),
    )
    if better:
        MemberTier.objects.update_or_create(
            member=survivor, defaults={"tier": theirs.tier, "valid_until": theirs.valid_until}
        )
        if mine is None or mine.tier_id != theirs.tier_id:
            TierChange.objects.create(
                member=survivor,
                from_tier=mine.tier if mine else None,
                to_tier=theirs.tier,
                spend_12m=0,
                reason="merge",
            )
    theirs.delete()


def _settle_candidates(survivor: Member, merged: Member, actor) -> None:
    """The pair is decided; other suspicions about the merged member now concern the survivor."""
    now = timezone.now()
    pair = Q(first=min(survivor.pk, merged.pk), second=max(survivor.pk, merged.pk))
    DuplicateCandidate.objects.filter(pair).update(
        status=DuplicateCandidate.Status.MERGED, decided_by=actor, decided_at=now
    )
    for candidate in DuplicateCandidate.objects.filter(Q(first=merged) | Q(second=merged)).exclude(pair):
        other = candidate.second_id if candidate.first_id == merged.pk else candidate.first_id
        if other != survivor.pk and candidate.status == DuplicateCandidate.Status.OPEN:
            DuplicateCandidate.objects.get_or_create(
                first_id=min(other, survivor.pk),
                second_id=max(other, survivor.pk),
                reason=candidate.reason,
                defaults={"evidence": candidate.evidence},
            )
        candidate.delete()


# --- finding duplicates -------------------------------------------------------------------------------


def duplicate_candidates_record(*, member_ids: list[int], evidence: dict) -> int:
    """Puts every pair of ``member_ids`` on the duplicate list (a sign-up gave details of each)."""
    created = 0
    ids = sorted(set(member_ids))
    with transaction.atomic():
        for i, first in enumerate(ids):
            for second in ids[i + 1 :]:
                _row, new = DuplicateCandidate.objects.get_or_create(
                    first_id=first,
                    second_id=second,
                    reason=DuplicateCandidate.Reason.SIGN_UP,
                    defaults={"evidence": evidence},
                )
                created += new
    return created


_GMAIL = {"gmail.com", "googlemail.com"}


def mailbox(email: str) -> str:
    """The mailbox an address delivers to: ``+tags`` dropped everywhere, dots too for Gmail."""
    local, _at, domain = email.lower().partition("@")
    local = local.split("+", 1)[0]
    if domain in _GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def duplicates_find() -> int:
    """Nightly: adds pairs of active members with the same name and birthday, or whose emails reach
    the same mailbox, to the duplicate list (a pair HQ dismissed stays dismissed). Returns new pairs."""
    active = Member.objects.filter(status=Member.Status.ACTIVE)
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    same = (
        active.exclude(name="")
        .filter(birthday__isnull=False)
        .values("name", "birthday")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    wanted = Q()
    for row in same:
        wanted |= Q(name=row["name"], birthday=row["birthday"])
    if same:
        for pk, name, birthday in active.filter(wanted).values_list("pk", "name", "birthday").order_by("pk"):
            groups[(DuplicateCandidate.Reason.NAME_BIRTHDAY, f"{name}|{birthday}")].append(pk)
    aliased = active.filter(Q(email__contains="+") | Q(email__iregex=r"@(gmail|googlemail)\.com$"))
    by_mailbox: dict[str, list[int]] = defaultdict(list)
    for pk, email in aliased.values_list("pk", "email").order_by("pk").iterator(chunk_size=2000):
        by_mailbox[mailbox(email)].append(pk)
    if by_mailbox:
        # plain addresses of the same mailboxes (``ab@gmail.com`` beside ``a.b+shop@gmail.com``)
        plain = [box for box in by_mailbox]
        for pk, email in active.filter(email__in=plain).values_list("pk", "email"):
            if pk not in by_mailbox[email]:
                by_mailbox[email].append(pk)
    for box, ids in by_mailbox.items():
        groups[(DuplicateCandidate.Reason.EMAIL_ALIAS, box)] = ids
    dismissed = set(
        DuplicateCandidate.objects.filter(status=DuplicateCandidate.Status.DISMISSED).values_list("first", "second")
    )
    created = 0
    for (reason, key), ids in groups.items():
        ids = sorted(set(ids))
        for i, first in enumerate(ids):
            for second in ids[i + 1 :]:
                if (first, second) in dismissed:
                    continue
                _row, new = DuplicateCandidate.objects.get_or_create(
                    first_id=first, second_id=second, reason=reason, defaults={"evidence": {"match": _mask_key(key)}}
                )
                created += new
    return created


def _mask_key(key: str) -> str:
    return re.sub(r"^(.)[^@|]*", r"\1***", key)


@transaction.atomic
def duplicate_dismiss(*, candidate: DuplicateCandidate, actor) -> DuplicateCandidate:
    """HQ says the two are different people; the pair is not suggested again."""
    ensure_permission(actor, "members.add_membermerge")
    candidate = DuplicateCandidate.objects.select_for_update().get(pk=candidate.pk)
    if candidate.status != DuplicateCandidate.Status.OPEN:
        raise ConflictError(_("This pair was decided already."), code="already_decided")
    candidate.status = DuplicateCandidate.Status.DISMISSED
    candidate.decided_by = actor
    candidate.decided_at = timezone.now()
    candidate.save(update_fields=["status", "decided_by", "decided_at"])
    return candidate
