"""Every write of the members app: registration with de-duplication, identities, consents, and the
points ledger (earn, redeem, expire, adjust, reverse).

Points: a member's row is locked (``SELECT ... FOR UPDATE``) for every points change, so changes of one
member happen one after another while other members' go on in parallel; the balance and the ledger
change in the same transaction, and the database refuses a negative balance as a backstop.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, timedelta

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Consent, Identity, Member, PointsEntry, PointsLot
from members.signals import member_registered
from omo.core.errors import ApplicationError, BusinessRuleError, ConflictError, conflict_on_integrity_error
from omo.events.services import event_emit
from omo.org.access import ensure_permission
from omo.org.models import REFERRAL_CODE_ALPHABET

MAX_POINTS = 10_000_000


# --- identity ---------------------------------------------------------------------------------------


def normalize_phone(raw: str, *, region: str | None = None) -> str:
    """E.164 (``+886912345678``) from what a person types (``0912-345-678``), or a 400 ``invalid_phone``."""
    region = region or settings.MEMBER_PHONE_REGION
    try:
        number = phonenumbers.parse((raw or "").strip(), region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ApplicationError(_("%(phone)s is not a valid phone number.") % {"phone": raw}, code="invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    email = (raw or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ApplicationError(
            _("%(email)s is not a valid email address.") % {"email": raw}, code="invalid_email"
        ) from None
    return email


def _identity_pairs(identities: dict[str, str] | None) -> list[tuple[str, str]]:
    pairs = []
    for provider, external_id in (identities or {}).items():
        if provider not in Identity.Provider.values:
            raise ApplicationError(
                _("Unknown identity provider %(p)s.") % {"p": provider},
                code="unknown_identity_provider",
                details={"providers": sorted(Identity.Provider.values)},
            )
        external_id = str(external_id or "").strip()
        if not external_id or len(external_id) > 128:
            raise ApplicationError(_("An identity needs an id of 1 to 128 characters."), code="invalid_identity")
        pairs.append((provider, external_id))
    return pairs


def find_matches(*, phone: str | None, email: str | None, identities: list[tuple[str, str]]) -> set[int]:
    """Ids of active members that already own one of these (normalised) contact points."""
    ids: set[int] = set()
    if phone:
        ids |= set(Member.objects.filter(phone=phone).values_list("pk", flat=True))
    if email:
        ids |= set(Member.objects.filter(email=email).values_list("pk", flat=True))
    for provider, external_id in identities:
        ids |= set(
            Identity.objects.filter(provider=provider, external_id=external_id).values_list("member_id", flat=True)
        )
    return ids


def _new_code(length: int, alphabet: str) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass
class Registration:
    member: Member
    created: bool


def member_register(**kwargs) -> Registration:
    """A member for this person. When the phone, email or an identity is already known the existing
    member is returned with the new contact points linked (no second member); when they point at two
    different members it is a 409 ``duplicate_members`` and the pair goes on HQ's duplicate list to
    merge. ``referral_code`` is another member's code (member-get-member) or a clerk's (who then counts
    as the clerk who registered them); it counts only when the member is new."""
    try:
        return _member_register(**kwargs)
    except ConflictError as error:
        if error.code == "duplicate_members" and len(error.details.get("member_ids", [])) > 1:
            from members.merging import duplicate_candidates_record

            duplicate_candidates_record(member_ids=error.details["member_ids"], evidence=error.details["evidence"])
        error.details.pop("member_ids", None)
        error.details.pop("evidence", None)
        raise


def _referrer(code: str):
    """(referring member, referring clerk) for a referral code, or a 400 ``unknown_referral_code``."""
    from omo.org.models import StaffProfile

    code = code.strip().upper()
    member = Member.objects.filter(referral_code=code, status=Member.Status.ACTIVE).first()
    if member is not None:
        return member, None
    staff = StaffProfile.objects.select_related("user").filter(referral_code=code, user__is_active=True).first()
    if staff is not None:
        return None, staff.user
    raise ApplicationError(_("Referral code %(code)s is unknown.") % {"code": code}, code="unknown_referral_code")


@transaction.atomic
def _member_register(
    *,
    phone: str | None = None,
    email: str | None = None,
    name: str = "",
    identities: dict[str, str] | None = None,
    consents: dict[str, bool] | None = None,
    channel=None,
    store=None,
    clerk=None,
    source: str = "",
    referral_code: str = "",
) -> Registration:
    phone = normalize_phone(phone) if phone else None
    email = normalize_email(email) if email else None
    pairs = _identity_pairs(identities)
    if not (phone or email or pairs):
        raise ApplicationError(_("Give a phone number, an email or an identity."), code="contact_required")
    if store is not None and not store.is_store:
        raise BusinessRuleError(_("A member registers at a store, not a warehouse."), code="not_a_store")
    for purpose in consents or {}:
        if purpose not in Consent.Purpose.values:
            raise ApplicationError(_("Unknown consent purpose %(p)s.") % {"p": purpose}, code="unknown_consent")
    referring_member, referring_clerk = _referrer(referral_code) if referral_code.strip() else (None, None)
    matches = find_matches(phone=phone, email=email, identities=pairs)
    if len(matches) > 1:
        raise ConflictError(
            _("These details belong to more than one member."),
            code="duplicate_members",
            details={
                "members": sorted(Member.objects.filter(pk__in=matches).values_list("member_no", flat=True)),
                # for the duplicate list (taken out before the error reaches the caller)
                "member_ids": sorted(matches),
                "evidence": {"phone": bool(phone), "email": bool(email), "identities": [p for p, _e in pairs]},
            },
        )
    if matches:
        member = Member.objects.select_for_update().get(pk=matches.pop())
        created = False
        if phone and not member.phone:
            member.phone = phone
        if email and not member.email:
            member.email = email
        if name and not member.name:
            member.name = name
        with conflict_on_integrity_error(_("These details belong to another member."), code="duplicate_members"):
            member.save()
    else:
        member = Member(
            name=name,
            phone=phone,
            email=email,
            registered_channel=channel,
            registered_store=store,
            registered_by=clerk if getattr(clerk, "pk", None) else referring_clerk,
            referred_by=referring_member,
            member_no="M" + _new_code(9, "0123456789"),
            referral_code=_new_code(8, REFERRAL_CODE_ALPHABET),
        )
        member.full_clean(validate_unique=False, validate_constraints=False)
        with conflict_on_integrity_error(_("These details belong to another member."), code="duplicate_members"):
            member.save()
        created = True
    known = set(member.identities.values_list("provider", "external_id"))
    with conflict_on_integrity_error(_("This identity belongs to another member."), code="duplicate_members"):
        Identity.objects.bulk_create(
            [Identity(member=member, provider=p, external_id=e) for p, e in pairs if (p, e) not in known]
        )
    for purpose, granted in (consents or {}).items():
        consent_record(member=member, purpose=purpose, granted=granted, source=source)
    if created:
        member_registered.send(sender=Member, member=member)
        event_emit(
            event_type="member.created",
            aggregate_type="member",
            aggregate_id=member.member_no,
            payload={"member_no": member.member_no, "source": source},
        )
    return Registration(member=member, created=created)


@transaction.atomic
def member_update(
    *,
    member: Member,
    name: str | None = None,
    email: str | None = None,
    birthday=None,
    consents: dict[str, bool] | None = None,
    source: str = "",
) -> Member:
    """A member changes their own details; an email another member has is a 409."""
    member = Member.objects.select_for_update().get(pk=member.pk)
    if name is not None:
        member.name = name.strip()[:100]
    if email is not None:
        member.email = normalize_email(email) if email.strip() else None
        if member.email and Member.objects.filter(email=member.email).exclude(pk=member.pk).exists():
            raise ConflictError(_("This email belongs to another member."), code="email_taken")
    if birthday is not None:
        if birthday > timezone.localdate():
            raise ApplicationError(_("A birthday cannot be in the future."), code="invalid_birthday")
        member.birthday = birthday
    for purpose in consents or {}:
        if purpose not in Consent.Purpose.values:
            raise ApplicationError(_("Unknown consent purpose %(p)s.") % {"p": purpose}, code="unknown_consent")
    with conflict_on_integrity_error(_("This email belongs to another member."), code="email_taken"):
        member.save()
    for purpose, granted in (consents or {}).items():
        consent_record(member=member, purpose=purpose, granted=granted, source=source)
    return member


def consent_record(*, member: Member, purpose: str, granted: bool, source: str = "") -> Consent:
    if purpose not in Consent.Purpose.values:
        raise ApplicationError(_("Unknown consent purpose %(p)s.") % {"p": purpose}, code="unknown_consent")
    return Consent.objects.create(member=member, purpose=purpose, granted=bool(granted), source=source[:40])


# --- points -----------------------------------------------------------------------------------------


def default_points_expiry(today: date) -> date:
    """When points earned today expire, per ``MEMBER_POINTS_EXPIRY``: ``end_of_following_year`` (the
    default) or ``days:N``."""
    rule = settings.MEMBER_POINTS_EXPIRY
    if rule.startswith("days:"):
        return today + timedelta(days=int(rule.split(":", 1)[1]))
    return date(today.year + 1, 12, 31)


def _check_points(points) -> None:
    if not isinstance(points, int) or isinstance(points, bool) or not 0 < points <= MAX_POINTS:
        raise BusinessRuleError(
            _("Points are whole numbers from 1 to %(max)d.") % {"max": MAX_POINTS}, code="invalid_points"
        )


def _locked(member: Member, *, already: bool = False) -> Member:
    if not already:
        member = Member.objects.select_for_update().get(pk=member.pk)
    if member.status != Member.Status.ACTIVE:
        raise BusinessRuleError(_("This member is no longer active."), code="member_inactive")
    return member


def _entry(member: Member, kind: str, points: int, *, reference="", reason="", actor=None) -> PointsEntry:
    member.points_balance += points
    return PointsEntry(
        member=member,
        kind=kind,
        points=points,
        balance_after=member.points_balance,
        reference=reference,
        reason=reason,
        created_by=actor if getattr(actor, "pk", None) else None,
    )


def _save_balance(member: Member) -> None:
    Member.objects.filter(pk=member.pk).update(points_balance=member.points_balance, updated_at=timezone.now())
    event_emit(
        event_type="points.changed",
        aggregate_type="member",
        aggregate_id=member.member_no,
        payload={"member_no": member.member_no, "balance": member.points_balance},
    )


def points_earn(
    *,
    member: Member,
    points: int,
    reference: str,
    actor=None,
    expires_on: date | None = None,
    reason: str = "",
    locked: bool = False,
) -> PointsEntry:
    """Adds points in a new lot that expires per the policy (or ``expires_on``). ``locked``: the caller
    read ``member`` FOR UPDATE in its transaction, which any error here rolls back whole (so there is
    no savepoint either)."""
    _check_points(points)
    today = timezone.localdate()
    expires_on = expires_on or default_points_expiry(today)
    if expires_on < today:
        raise BusinessRuleError(_("Points cannot be earned already expired."), code="invalid_expiry")
    with transaction.atomic(savepoint=not locked):
        member = _locked(member, already=locked)
        PointsLot.objects.create(
            member=member, earned=points, remaining=points, expires_on=expires_on, reference=reference
        )
        entry = _entry(member, PointsEntry.Kind.EARN, points, reference=reference, reason=reason, actor=actor)
        entry.save()
        _save_balance(member)
    return entry


def _take(member: Member, points: int, *, today: date, refuse_short: bool = False) -> None:
    """Takes ``points`` from the member's unexpired lots, earliest to expire first. The lots are locked
    and summed in one query; with ``refuse_short`` too few of them is a 409 ``insufficient_points``."""
    lots = list(
        PointsLot.objects.select_for_update()
        .filter(member=member, remaining__gt=0, expires_on__gte=today)
        .order_by("expires_on", "id")
        .values_list("pk", "remaining")
    )
    available = sum(remaining for _pk, remaining in lots)
    if points > available:
        if refuse_short:
            raise ConflictError(
                _("%(member)s has %(held)d points, not %(asked)d.")
                % {"member": member.member_no, "held": available, "asked": points},
                code="insufficient_points",
                details={"available": available, "requested": points},
            )
        raise ConflictError("points lots out of step with the balance", code="ledger_mismatch")
    remaining = points
    for pk, held in lots:
        take = min(held, remaining)
        PointsLot.objects.filter(pk=pk).update(remaining=F("remaining") - take)
        remaining -= take
        if remaining == 0:
            return


def available_points(member: Member, *, today: date) -> int:
    """Points that can be spent today: the balance less lots past their date not yet expired by the job."""
    return (
        PointsLot.objects.filter(member=member, remaining__gt=0, expires_on__gte=today).aggregate(
            total=Sum("remaining")
        )["total"]
        or 0
    )


@transaction.atomic
def points_redeem(*, member: Member, points: int, reference: str, actor=None) -> PointsEntry:
    """Spends points (part of a balance is fine), earliest-expiring first. More than held is a 409
    ``insufficient_points`` and nothing changes."""
    _check_points(points)
    member = _locked(member)
    today = timezone.localdate()
    _take(member, points, today=today, refuse_short=True)
    entry = _entry(member, PointsEntry.Kind.REDEEM, -points, reference=reference, actor=actor)
    entry.save()
    _save_balance(member)
    return entry


@transaction.atomic
def points_adjust(*, member: Member, points: int, reason: str, actor) -> PointsEntry:
    """An HQ correction, signed; a reason is required and the balance never goes below zero."""
    if actor is not None:
        ensure_permission(actor, "members.add_pointsentry")
    _check_points(abs(points) if isinstance(points, int) else points)
    if not reason.strip():
        raise BusinessRuleError(_("Say why the points are adjusted."), code="reason_required")
    member = _locked(member)
    today = timezone.localdate()
    if points < 0:
        _take(member, -points, today=today, refuse_short=True)
    else:
        PointsLot.objects.create(
            member=member, earned=points, remaining=points, expires_on=default_points_expiry(today), reference="adjust"
        )
    entry = _entry(member, PointsEntry.Kind.ADJUST, points, reference="adjust", reason=reason, actor=actor)
    entry.save()
    _save_balance(member)
    return entry


@transaction.atomic
def points_reverse(*, member: Member, reference: str, actor=None) -> list[PointsEntry]:
    """Undoes what an order did to the points (a return or a cancellation): points earned for
    ``reference`` are taken back (what is left of them, then other points; never below zero) and points
    redeemed for it are given back in a new lot. Running it twice changes nothing the second time."""
    member = _locked(member)
    # the entries may have been written under a member merged into this one since
    entries = PointsEntry.objects.filter(member_id__in=ledger_members(member), reference=reference)
    earned = sum(e.points for e in entries if e.kind == PointsEntry.Kind.EARN)
    redeemed = -sum(e.points for e in entries if e.kind == PointsEntry.Kind.REDEEM)
    reversed_already = sum(e.points for e in entries if e.kind == PointsEntry.Kind.REVERSE)
    net_reversal = redeemed - earned  # what a full reversal adds to the balance
    due = net_reversal - reversed_already
    if due == 0:
        return []
    give_back, take_back = (due, 0) if due > 0 else (0, -due)
    return _give_and_take(member, reference, give_back=give_back, take_back=take_back, actor=actor)


def _give_and_take(member: Member, reference: str, *, give_back: int, take_back: int, actor=None) -> list[PointsEntry]:
    """Redeemed points given back in a new lot, then earned points taken back (at most what is held),
    each a ``reverse`` entry under ``reference``; the member is locked by the caller."""
    today = timezone.localdate()
    rows = []
    if give_back:
        PointsLot.objects.create(
            member=member,
            earned=give_back,
            remaining=give_back,
            expires_on=default_points_expiry(today),
            reference=reference,
        )
        rows.append(
            _entry(
                member,
                PointsEntry.Kind.REVERSE,
                give_back,
                reference=reference,
                actor=actor,
                reason=_("redeemed points given back"),
            )
        )
    take = min(take_back, available_points(member, today=today) + give_back)
    if take:
        _take(member, take, today=today)
        rows.append(
            _entry(
                member,
                PointsEntry.Kind.REVERSE,
                -take,
                reference=reference,
                actor=actor,
                reason=_("earned points taken back"),
            )
        )
    PointsEntry.objects.bulk_create(rows)
    _save_balance(member)
    return rows


def ledger_members(member: Member) -> list[int]:
    """The member and every member merged into them: whose ledger entries count as theirs."""
    return [member.pk, *Member.objects.filter(merged_into=member).values_list("pk", flat=True)]


def points_expire_due(*, today: date | None = None) -> int:
    """Expires every lot past its date (beat job), one member per short transaction. Returns points expired."""
    today = today or timezone.localdate()
    member_ids = list(
        PointsLot.objects.filter(remaining__gt=0, expires_on__lt=today)
        .values_list("member_id", flat=True)
        .distinct()
        .order_by("member_id")
    )
    total = 0
    for member_id in member_ids:
        total += _expire_member(member_id, today=today)
    return total


@transaction.atomic
def _expire_member(member_id: int, *, today: date) -> int:
    member = Member.objects.select_for_update().get(pk=member_id)
    lots = list(PointsLot.objects.select_for_update().filter(member=member, remaining__gt=0, expires_on__lt=today))
    points = sum(lot.remaining for lot in lots)
    if not points:
        return 0
    PointsLot.objects.filter(pk__in=[lot.pk for lot in lots]).update(remaining=0)
    _entry(member, PointsEntry.Kind.EXPIRE, -points, reason=_("expired")).save()
    _save_balance(member)
    return points


# --- wishlist ---------------------------------------------------------------------------------------

MAX_WISHLIST = 200


@transaction.atomic
def wishlist_add(*, member: Member, variant, channel=None):
    """Saves an item (saving it again keeps one). At most ``MAX_WISHLIST`` items."""
    from members.models import WishlistItem

    Member.objects.select_for_update().filter(pk=member.pk).first()  # the count below stays true
    item = WishlistItem.objects.filter(member=member, variant=variant).first()
    if item:
        return item
    if WishlistItem.objects.filter(member=member).count() >= MAX_WISHLIST:
        raise BusinessRuleError(_("A wishlist holds at most %(n)d items.") % {"n": MAX_WISHLIST}, code="wishlist_full")
    return WishlistItem.objects.create(member=member, variant=variant, channel=channel)


@transaction.atomic
def wishlist_remove(*, member: Member, variant) -> int:
    from members.models import WishlistItem

    deleted, _counts = WishlistItem.objects.filter(member=member, variant=variant).delete()
    return deleted


@transaction.atomic
def points_return(*, member: Member, reference: str, give_back: int = 0, take_back: int = 0, actor=None) -> list:
    """A partial return of an order: ``give_back`` redeemed points come back in a new lot and
    ``take_back`` earned points are taken (never below zero), both under the return's ``reference``.
    Running it again with the same reference changes nothing."""
    for value in (give_back, take_back):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise BusinessRuleError(_("Points are whole numbers, zero or more."), code="invalid_points")
    member = _locked(member) if member.status == Member.Status.ACTIVE else member
    if (
        member.status != Member.Status.ACTIVE
        or PointsEntry.objects.filter(member_id__in=ledger_members(member), reference=reference).exists()
    ):
        return []
    return _give_and_take(member, reference, give_back=give_back, take_back=take_back, actor=actor)
