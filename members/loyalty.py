"""Loyalty services (with members/services.py and members/coupons.py): how many points a purchase
earns under the earn rules, and tier evaluation with its history.

Orders call ``points_for_purchase`` and then ``services.points_earn``, and call ``tier_evaluate`` with
the member's rolling 12-month spend after each paid order (and the nightly job, once orders exist).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_FLOOR, Decimal

from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import Variant
from members.models import EarnRule, Member, MemberTier, Tier, TierChange
from omo.core.errors import BusinessRuleError
from omo.org.models import SalesChannel


@dataclass(frozen=True)
class PurchaseLine:
    variant: Variant
    amount: Decimal  # what the member paid for the line, after every discount


def member_tier(member: Member) -> Tier | None:
    state = MemberTier.objects.select_related("tier").filter(member=member).first()
    return state.tier if state else Tier.objects.order_by("rank").first()


def points_for_purchase(*, member: Member, channel: SalesChannel | None, lines: list[PurchaseLine], at=None) -> int:
    """Points a purchase earns: each line's paid amount times the highest multiplier among the bonus
    rules matching it (channel, tier, category, date) and the tier's multiplier, divided by the base
    rule's spend per point, rounded down once for the whole purchase."""
    at = at or timezone.now()
    rules = list(
        EarnRule.objects.filter(is_active=True)
        .filter(
            Q(starts_at__isnull=True) | Q(starts_at__lte=at),
            Q(ends_at__isnull=True) | Q(ends_at__gt=at),
        )
        .prefetch_related("channels", "tiers", "categories")
    )
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


@transaction.atomic
def tier_evaluate(*, member: Member, spend_12m: Decimal, today: date | None = None, reason: str = "") -> Tier:
    """Puts the member in the tier their rolling 12-month spend reaches. Upgrades happen at once and
    hold for the tier's validity; a lower spend only downgrades once the current tier's validity has
    ended. Every change is kept in the history."""
    today = today or timezone.localdate()
    tiers = list(Tier.objects.order_by("rank"))
    if not tiers:
        raise BusinessRuleError(_("No tiers are set up."), code="no_tiers")
    earned = [t for t in tiers if t.min_spend_12m <= spend_12m][-1] if spend_12m >= tiers[0].min_spend_12m else tiers[0]
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
    MemberTier.objects.update_or_create(member=member, defaults={"tier": earned, "valid_until": valid_until})
    TierChange.objects.create(
        member=member,
        from_tier=current,
        to_tier=earned,
        spend_12m=spend_12m,
        # a code, not translated text: the history reads the same in every language
        reason=reason or ("upgrade" if not current or earned.rank > current.rank else "validity_ended"),
    )
    return earned
