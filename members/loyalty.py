"""Loyalty services (with members/services.py and members/coupons.py): how many points a purchase
earns under the earn rules, the member's purchases from every channel, tiers by rolling 12-month spend
with their history, and member-get-member rewards.

Orders call ``points_for_purchase`` and ``services.points_earn``, then ``purchase_record`` when an order
is paid (which re-evaluates the tier and pays a referral reward on a first order) and
``purchase_refund`` when lines come back. A nightly job (``tiers_reevaluate_due``) downgrades members
whose tier validity has ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_FLOOR, Decimal

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import Variant
from members.models import EarnRule, Member, MemberTier, Purchase, ReferralReward, Tier, TierChange
from omo.core.config_cache import cached
from omo.core.errors import ApplicationError, BusinessRuleError, ConflictError, conflict_on_integrity_error
from omo.org.models import SalesChannel


@dataclass(frozen=True)
class PurchaseLine:
    variant: Variant
    amount: Decimal  # what the member paid for the line, after every discount


def _tiers() -> list[Tier]:
    """The tiers by rank (reused a few seconds per process)."""
    return cached(("tiers",), lambda: list(Tier.objects.order_by("rank")))


def member_tier(member: Member) -> Tier | None:
    state = MemberTier.objects.select_related("tier").filter(member=member).first()
    tiers = _tiers()
    return state.tier if state else (tiers[0] if tiers else None)


def _active_earn_rules() -> list[EarnRule]:
    """Active earn rules with their channels, tiers and categories (reused a few seconds per process)."""
    return list(EarnRule.objects.filter(is_active=True).prefetch_related("channels", "tiers", "categories"))


def points_for_purchase(*, member: Member, channel: SalesChannel | None, lines: list[PurchaseLine], at=None) -> int:
    """Points a purchase earns: each line's paid amount times the highest multiplier among the bonus
    rules matching it (channel, tier, category, date) and the tier's multiplier, divided by the base
    rule's spend per point, rounded down once for the whole purchase."""
    at = at or timezone.now()
    rules = [
        rule
        for rule in cached(("earn-rules",), _active_earn_rules)
        if (rule.starts_at is None or rule.starts_at <= at) and (rule.ends_at is None or rule.ends_at > at)
    ]
    base = next((r for r in rules if r.spend_per_point), None)
    if base is None:
        raise BusinessRuleError(_("No base earn rule is set up."), code="no_earn_rule")
    tier = member_tier(member)
    tier_multiplier = tier.points_multiplier if tier else Decimal(1)
    weighted = Decimal(0)
    for line in lines:
        path = line.variant.product.category.path
        multipliers = [rule.multiplier for rule in rules if rule is not base and _matches(rule, channel, tier, path)]
        multiplier = Decimal(0) if Decimal(0) in multipliers else max(multipliers, default=Decimal(1))
        weighted += line.amount * multiplier
    points = (weighted * tier_multiplier / base.spend_per_point).to_integral_value(rounding=ROUND_FLOOR)
    return max(int(points), 0)


def _matches(rule: EarnRule, channel, tier, path: str) -> bool:
    channels = {c.pk for c in rule.channels.all()}
    tiers = {t.pk for t in rule.tiers.all()}
    paths = [c.path for c in rule.categories.all()]
    return (
        (not channels or (channel is not None and channel.pk in channels))
        and (not tiers or (tier is not None and tier.pk in tiers))
        and (not paths or any(path == p or path.startswith(f"{p}/") for p in paths))
    )


def tier_evaluate(
    *, member: Member, spend_12m: Decimal, today: date | None = None, reason: str = "", locked: bool = False
) -> Tier:
    """Puts the member in the tier their rolling 12-month spend reaches. Upgrades happen at once and
    hold for the tier's validity; a lower spend only downgrades once the current tier's validity has
    ended. Every change is kept in the history. ``locked``: the caller holds the member's row lock in
    its transaction, which any error here rolls back whole (so there is no savepoint either)."""
    with transaction.atomic(savepoint=not locked):
        return _tier_evaluate(member=member, spend_12m=spend_12m, today=today, reason=reason, locked=locked)


def _tier_evaluate(*, member: Member, spend_12m: Decimal, today: date | None, reason: str, locked: bool) -> Tier:
    today = today or timezone.localdate()
    tiers = _tiers()
    if not tiers:
        raise BusinessRuleError(_("No tiers are set up."), code="no_tiers")
    earned = [t for t in tiers if t.min_spend_12m <= spend_12m][-1] if spend_12m >= tiers[0].min_spend_12m else tiers[0]
    if not locked:
        Member.objects.select_for_update().filter(pk=member.pk).first()  # one evaluation of a member at a time
    state = MemberTier.objects.select_related("tier").filter(member=member).first()
    current = state.tier if state else None
    if current is not None and earned.rank < current.rank and state.valid_until and today <= state.valid_until:
        return current  # a reached tier holds until its validity ends
    if current is not None and earned.pk == current.pk:
        if earned.rank > tiers[0].rank:  # re-qualified: the validity runs again from today
            state.valid_until = today + relativedelta(months=earned.validity_months)
            state.save(update_fields=["valid_until"])
        return current
    valid_until = today + relativedelta(months=earned.validity_months) if earned.rank > tiers[0].rank else None
    # the member's row lock serialises this: the state read above is the one to replace
    if state is None:
        MemberTier.objects.create(member=member, tier=earned, valid_until=valid_until)
    else:
        MemberTier.objects.filter(pk=state.pk).update(tier=earned, valid_until=valid_until)
    TierChange.objects.create(
        member=member,
        from_tier=current,
        to_tier=earned,
        spend_12m=spend_12m,
        # a code, not translated text: the history reads the same in every language
        reason=reason or ("upgrade" if not current or earned.rank > current.rank else "validity_ended"),
    )
    return earned


# --- purchases from every channel -------------------------------------------------------------------


def rolling_spend(*, member: Member, today: date | None = None) -> Decimal:
    """Net spend (paid less refunded) over the 12 months up to ``today``, every channel together."""
    today = today or timezone.localdate()
    since = _start_of(today - relativedelta(months=12))
    total = Purchase.objects.filter(member=member, paid_at__gte=since).aggregate(
        total=Sum(F("amount") - F("refunded"))
    )["total"]
    return total or Decimal(0)


def _start_of(day: date):
    return timezone.make_aware(timezone.datetime(day.year, day.month, day.day))


def lock_for_purchase(member_id: int) -> Member:
    """Locks the member and whoever referred them together, in pk order (a referral reward writes to
    both), in one query; returns the member, read under the lock."""
    rows = list(
        Member.objects.raw(
            f"SELECT m.* FROM {Member._meta.db_table} m WHERE m.id = %s OR m.id = "  # noqa: S608
            f"(SELECT referred_by_id FROM {Member._meta.db_table} WHERE id = %s) ORDER BY m.id"
            + (" FOR UPDATE" if connection.features.has_select_for_update else ""),
            [member_id, member_id],
        )
    )
    return next(m for m in rows if m.pk == member_id)


def purchase_record(
    *,
    member: Member,
    reference: str,
    channel: SalesChannel,
    amount: Decimal,
    store=None,
    paid_at=None,
    locked: bool = False,
) -> Purchase:
    """Records a paid order of ``member`` (the net amount paid, after every discount). Recording the same
    order again returns the first record and changes nothing. Re-evaluates the tier and, on the
    member's first paid order, rewards whoever referred them. ``locked``: the caller took
    ``lock_for_purchase`` in its transaction, which any error here rolls back whole (so there is no
    savepoint either), and passes the member it returned."""
    with transaction.atomic(savepoint=not locked):
        return _purchase_record(
            member=member,
            reference=reference,
            channel=channel,
            amount=amount,
            store=store,
            paid_at=paid_at,
            locked=locked,
        )


def _purchase_record(*, member, reference, channel, amount, store, paid_at, locked) -> Purchase:
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
        raise ApplicationError(_("The amount paid must be zero or more."), code="invalid_amount")
    reference = (reference or "").strip()
    if not reference:
        raise ApplicationError(_("A purchase needs the order reference."), code="reference_required")
    if not locked:
        member = lock_for_purchase(member.pk)
    existing = Purchase.objects.filter(reference=reference).first()
    if existing is not None:
        if existing.member_id != member.pk:
            raise ConflictError(
                _("Order %(ref)s is recorded for another member.") % {"ref": reference}, code="purchase_taken"
            )
        return existing
    if member.status != Member.Status.ACTIVE:
        raise BusinessRuleError(_("This member is no longer active."), code="member_inactive")
    with conflict_on_integrity_error(
        _("Order %(ref)s is recorded for another member.") % {"ref": reference},
        code="purchase_taken",
        savepoint=not locked,
    ):
        purchase = Purchase.objects.create(
            member=member,
            reference=reference,
            channel=channel,
            store=store,
            amount=amount,
            paid_at=paid_at or timezone.now(),
        )
    if _tiers():
        tier_evaluate(member=member, spend_12m=rolling_spend(member=member), locked=True)
    if member.referred_by_id and amount > 0:
        _referral_reward(member, purchase)
    return purchase


def _referral_reward(member: Member, purchase: Purchase) -> None:
    """Member-get-member: the referrer's reward (and the new member's welcome points) on the new
    member's first paid order; once only."""
    from members.services import points_earn

    if ReferralReward.objects.filter(referred=member).exists():
        return
    if Purchase.objects.filter(member=member, amount__gt=0).exclude(pk=purchase.pk).exists():
        return  # not their first paid order (e.g. an existing customer's account merged in)
    points = settings.MEMBER_REFERRAL_POINTS
    welcome = settings.MEMBER_REFERRAL_WELCOME_POINTS
    referrer = Member.objects.get(pk=member.referred_by_id)
    if referrer.status != Member.Status.ACTIVE:
        return  # the referrer was erased or merged away: nobody to reward
    reference = f"referral:{purchase.reference}"
    if points:
        points_earn(member=referrer, points=points, reference=reference, reason=_("member-get-member reward"))
    if welcome:
        points_earn(member=member, points=welcome, reference=reference, reason=_("welcome reward"))
    ReferralReward.objects.create(
        referrer=referrer, referred=member, purchase=purchase, points=points, welcome_points=welcome
    )


@transaction.atomic
def purchase_refund(*, reference: str, amount: Decimal) -> Purchase:
    """Records money given back on a recorded order (a return). A fully refunded first order takes the
    referral reward back. Refunding more than was paid is a 409 ``refund_exceeds_paid``."""
    from members.services import points_reverse

    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise ApplicationError(_("The refund must be more than zero."), code="invalid_amount")
    purchase = Purchase.objects.select_for_update().filter(reference=reference).first()
    if purchase is None:
        raise BusinessRuleError(_("Order %(ref)s has no recorded purchase.") % {"ref": reference}, code="no_purchase")
    if purchase.refunded + amount > purchase.amount:
        raise ConflictError(
            _("Only %(left)s of order %(ref)s is left to refund.") % {"left": purchase.net, "ref": reference},
            code="refund_exceeds_paid",
            details={"refundable": str(purchase.net)},
        )
    Purchase.objects.filter(pk=purchase.pk).update(refunded=F("refunded") + amount)
    purchase.refresh_from_db()
    if purchase.net == 0:
        reward = ReferralReward.objects.select_for_update().filter(purchase=purchase, reversed_at=None).first()
        if reward is not None:
            for member in (reward.referrer, reward.referred):
                # the points may sit with the member either was merged into since
                member = Member.objects.get(pk=member.merged_into_id or member.pk)
                if member.status == Member.Status.ACTIVE:
                    points_reverse(member=member, reference=reward.reference)
            reward.reversed_at = timezone.now()
            reward.save(update_fields=["reversed_at"])
    return purchase


def tiers_reevaluate_due(*, today: date | None = None) -> int:
    """Nightly: members whose tier validity has ended are put in the tier their spend now reaches (a
    downgrade, or the same tier again for another period). One member per short transaction; running
    it twice changes nothing the second time. Returns how many members were evaluated."""
    today = today or timezone.localdate()
    member_ids = list(
        MemberTier.objects.filter(valid_until__lt=today, member__status=Member.Status.ACTIVE)
        .order_by("member_id")
        .values_list("member_id", flat=True)
    )
    for member_id in member_ids:
        member = Member(pk=member_id)
        tier_evaluate(member=member, spend_12m=rolling_spend(member=member, today=today), today=today)
    return len(member_ids)


def omo_segment(*, member: Member, since=None) -> str:
    """``both``, ``store_only``, ``online_only`` or ``none``: where the member bought (since a date)."""
    rows = Purchase.objects.filter(member=member)
    if since is not None:
        rows = rows.filter(paid_at__gte=since)
    kinds = set(rows.values_list("channel__kind", flat=True).distinct())
    return segment_of(kinds)


def segment_of(kinds: set[str]) -> str:
    store = SalesChannel.Kind.POS in kinds
    online = bool(kinds & set(SalesChannel.ONLINE_KINDS))
    if store and online:
        return "both"
    return "store_only" if store else "online_only" if online else "none"
