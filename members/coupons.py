"""Coupon services (the coupon half of the members services): campaigns, codes, the one wallet,
validation that explains itself, and redemption that succeeds exactly as often as allowed.

A coupon collected in a store works online and the reverse: a campaign limits channels or stores only
when it says so.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import Variant
from members.models import Coupon, CouponCampaign, CouponIssueJob, CouponRedemption, Member, WalletCoupon
from omo.core.config_cache import cached
from omo.core.errors import BusinessRuleError, ConflictError, NotFoundError, conflict_on_integrity_error
from omo.core.locks import advisory_xact_lock
from omo.core.money import money_round
from omo.events.services import event_emit, events_emit_many
from omo.org.access import ensure_permission
from omo.org.models import Location, SalesChannel

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

REASONS = {
    "inactive": lambda c: _("This coupon is not active."),
    "not_started": lambda c: (
        _("This coupon can be used from %(date)s.") % {"date": f"{timezone.localtime(c.starts_at):%Y-%m-%d}"}
    ),
    "expired": lambda c: _("This coupon expired on %(date)s.") % {"date": f"{timezone.localtime(c.ends_at):%Y-%m-%d}"},
    "wrong_channel": lambda c: _("This coupon cannot be used on this channel."),
    "wrong_store": lambda c: _("This coupon cannot be used at this store."),
    "below_minimum": lambda c: _("Spend at least %(amount)s on eligible items.") % {"amount": c.min_spend},
    "no_eligible_items": lambda c: _("Nothing in the cart is eligible for this coupon."),
    "used_up": lambda c: _("This coupon has been used."),
    "budget_exhausted": lambda c: _("This offer has run out."),
    "member_limit": lambda c: _("You have used this coupon as often as allowed."),
    "not_yours": lambda c: _("This coupon was issued to another member."),
    "member_required": lambda c: _("This coupon needs a member."),
}


@dataclass(frozen=True)
class CartLine:
    variant: Variant
    quantity: int
    unit_price: Decimal  # tax-included, after automatic promotions


@dataclass
class Validation:
    applies: bool
    discount: Decimal
    eligible_amount: Decimal
    reasons: list[dict] = field(default_factory=list)
    coupon: Coupon | None = None  # the coupon judged, with its campaign


def _new_code(length: int = 10) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


@transaction.atomic
def campaign_create(
    *,
    name: str,
    discount_type: str,
    starts_at,
    ends_at,
    amount=None,
    percent=None,
    max_discount=None,
    min_spend=Decimal(0),
    code_type=CouponCampaign.Codes.SHARED,
    channels=(),
    stores=(),
    categories=(),
    per_member_limit=None,
    budget=None,
    reinstate_on_cancel=True,
) -> CouponCampaign:
    campaign = CouponCampaign(
        name=name,
        discount_type=discount_type,
        amount=amount,
        percent=percent,
        max_discount=max_discount,
        min_spend=min_spend,
        starts_at=starts_at,
        ends_at=ends_at,
        code_type=code_type,
        per_member_limit=per_member_limit,
        budget=budget,
        reinstate_on_cancel=reinstate_on_cancel,
    )
    if discount_type == CouponCampaign.Discount.AMOUNT and not (amount and amount > 0):
        raise BusinessRuleError(_("An amount-off coupon needs an amount."), code="invalid_discount")
    if discount_type == CouponCampaign.Discount.PERCENT and not (percent and 0 < percent <= 100):
        raise BusinessRuleError(_("A percent-off coupon needs a percent between 0 and 100."), code="invalid_discount")
    if ends_at <= starts_at:
        raise BusinessRuleError(_("A campaign must end after it starts."), code="invalid_dates")
    campaign.full_clean()
    campaign.save()
    campaign.channels.set(channels)
    campaign.stores.set(stores)
    campaign.categories.set(categories)
    return campaign


@transaction.atomic
def coupon_create_shared(*, campaign: CouponCampaign, code: str | None = None) -> Coupon:
    code = (code or _new_code()).strip().upper()
    with conflict_on_integrity_error(_("Code %(code)s exists.") % {"code": code}, code="coupon_code_taken"):
        return Coupon.objects.create(campaign=campaign, code=code, max_uses=None)


@transaction.atomic
def coupons_issue(*, campaign: CouponCampaign, members: list[Member], channel=None, store=None) -> list[Coupon]:
    """One unique single-use code per member, put straight into their wallet (bulk issue to a segment)."""
    if campaign.code_type != CouponCampaign.Codes.UNIQUE:
        raise BusinessRuleError(_("This campaign uses one shared code."), code="shared_campaign")
    coupons = Coupon.objects.bulk_create(
        [Coupon(campaign=campaign, code=_new_code(12), member=member, max_uses=1) for member in members]
    )
    WalletCoupon.objects.bulk_create(
        [WalletCoupon(member=c.member, coupon=c, collected_channel=channel, collected_store=store) for c in coupons]
    )
    events_emit_many([_issued_event(c, c.member, how="issued") for c in coupons])
    return coupons


def _issued_event(coupon: Coupon, member: Member, *, how: str) -> dict:
    return {
        "event_type": "coupon.issued",
        "aggregate_type": "member",
        "aggregate_id": member.member_no,
        "payload": {
            "member_no": member.member_no,
            "code": coupon.code,
            "campaign": coupon.campaign_id,
            "how": how,
        },
    }


ISSUE_BATCH = 1000


@transaction.atomic
def coupon_issue_job_create(*, campaign: CouponCampaign, segment: dict, actor) -> CouponIssueJob:
    """Queues the issue of one unique code of ``campaign`` to every member of ``segment`` (see
    members.segments); a Celery worker runs it after the commit."""
    from members.segments import segment_clean
    from members.tasks import coupon_issue_job_run
    from omo.core.queue import enqueue

    ensure_permission(actor, "members.add_couponissuejob")
    if campaign.code_type != CouponCampaign.Codes.UNIQUE:
        raise BusinessRuleError(_("This campaign uses one shared code."), code="shared_campaign")
    if not campaign.is_active or campaign.ends_at <= timezone.now():
        raise BusinessRuleError(_("This campaign is over or inactive."), code="campaign_over")
    job = CouponIssueJob.objects.create(campaign=campaign, segment=segment_clean(segment), created_by=actor)
    transaction.on_commit(lambda: enqueue(coupon_issue_job_run, (job.pk,)))  # broker down: the sweep runs it
    return job


def coupon_issue_jobs_waiting(*, now=None, after_seconds: int = 120) -> list[int]:
    """Jobs still queued ``after_seconds`` after they were made: their task was never queued (the
    broker was down) or was lost; the minute sweep queues them again (a run issues nothing twice)."""
    now = now or timezone.now()
    return list(
        CouponIssueJob.objects.filter(
            status=CouponIssueJob.Status.QUEUED, created_at__lt=now - timedelta(seconds=after_seconds)
        ).values_list("pk", flat=True)
    )


def coupon_issue_job_run(*, job_id: int) -> CouponIssueJob:
    """Issues the job's coupons in batches of ``ISSUE_BATCH`` members, each batch its own transaction,
    skipping members who already hold a code of the campaign: running it again (a retried task, a
    worker killed halfway) issues nothing twice."""
    from members.segments import segment_members

    with transaction.atomic():
        job = CouponIssueJob.objects.select_for_update(of=("self",)).select_related("campaign").get(pk=job_id)
        if job.status == CouponIssueJob.Status.DONE:
            return job
        CouponIssueJob.objects.filter(pk=job.pk).update(status=CouponIssueJob.Status.RUNNING, error="")
    try:
        ids = list(segment_members(job.segment).values_list("pk", flat=True))
        CouponIssueJob.objects.filter(pk=job.pk).update(matched=len(ids), issued=0, skipped=0)
        for start in range(0, len(ids), ISSUE_BATCH):
            _issue_batch(job, ids[start : start + ISSUE_BATCH])
    except Exception as error:
        CouponIssueJob.objects.filter(pk=job.pk).update(status=CouponIssueJob.Status.FAILED, error=str(error)[:2000])
        raise
    # counted from what is there, so a re-run (a retried task) reports the coupons the first run issued
    issued = Coupon.objects.filter(campaign=job.campaign, member_id__in=ids, created_at__gte=job.created_at).count()
    CouponIssueJob.objects.filter(pk=job.pk).update(
        status=CouponIssueJob.Status.DONE, finished_at=timezone.now(), issued=issued, skipped=len(ids) - issued
    )
    job.refresh_from_db()
    return job


@transaction.atomic
def _issue_batch(job: CouponIssueJob, member_ids: list[int]) -> None:
    advisory_xact_lock(f"omo-coupon-issue:{job.campaign_id}")  # two jobs of a campaign never both issue
    holding = set(
        Coupon.objects.filter(campaign=job.campaign, member_id__in=member_ids).values_list("member_id", flat=True)
    )
    todo = [Member(pk=pk) for pk in member_ids if pk not in holding]
    if todo:
        coupons_issue(campaign=job.campaign, members=todo)
    CouponIssueJob.objects.filter(pk=job.pk).update(issued=F("issued") + len(todo), skipped=F("skipped") + len(holding))


def coupon_find(code: str) -> Coupon:
    """The coupon of a code (as typed: case and spaces do not matter), or a 404 ``coupon_not_found``."""
    return _find(code)


def _find(code: str) -> Coupon:
    coupon = Coupon.objects.select_related("campaign").filter(code=(code or "").strip().upper()).first()
    if coupon is None:
        raise NotFoundError(_("No such coupon code."), code="coupon_not_found")
    return coupon


@transaction.atomic
def coupon_collect(
    *, member: Member, code: str, channel: SalesChannel | None = None, store: Location | None = None
) -> WalletCoupon:
    """Puts a coupon in the member's wallet (collecting twice keeps one)."""
    coupon = _find(code)
    now = timezone.now()
    if not coupon.campaign.is_active or coupon.campaign.ends_at <= now:
        raise BusinessRuleError(
            REASONS["expired" if coupon.campaign.is_active else "inactive"](coupon.campaign), code="coupon_unavailable"
        )
    if coupon.member_id and coupon.member_id != member.pk:
        raise BusinessRuleError(REASONS["not_yours"](coupon.campaign), code="not_yours")
    wallet, created = WalletCoupon.objects.get_or_create(
        member=member, coupon=coupon, defaults={"collected_channel": channel, "collected_store": store}
    )
    if created:
        event_emit(**_issued_event(coupon, member, how="collected"))
    return wallet


def coupon_eligible_lines(campaign: CouponCampaign, lines: list[CartLine]) -> list[bool]:
    """For each line, whether the campaign's categories (and below) cover it (no categories: all)."""
    paths = cached(("campaign-paths", campaign.pk), lambda: list(campaign.categories.values_list("path", flat=True)))
    return [
        not paths
        or any(
            line.variant.product.category.path == p or line.variant.product.category.path.startswith(f"{p}/")
            for p in paths
        )
        for line in lines
    ]


def _eligible_amount(campaign: CouponCampaign, lines: list[CartLine]) -> Decimal:
    eligible = coupon_eligible_lines(campaign, lines)
    return sum((line.unit_price * line.quantity for line, ok in zip(lines, eligible, strict=True) if ok), Decimal(0))


def _campaign_scope(campaign: CouponCampaign) -> tuple[set[int], set[int]]:
    """The channels and stores a campaign is limited to (reused a few seconds per process)."""
    return set(campaign.channels.values_list("pk", flat=True)), set(campaign.stores.values_list("pk", flat=True))


def coupon_validate(
    *,
    code: str,
    lines: list[CartLine],
    member: Member | None = None,
    channel: SalesChannel | None = None,
    store: Location | None = None,
    at=None,
) -> Validation:
    """Whether the coupon applies to this cart and, when it does not, every reason why."""
    coupon = _find(code)
    campaign = coupon.campaign
    at = at or timezone.now()
    reasons = []
    if not campaign.is_active:
        reasons.append("inactive")
    if at < campaign.starts_at:
        reasons.append("not_started")
    if at >= campaign.ends_at:
        reasons.append("expired")
    channel_ids, store_ids = cached(("campaign-scope", campaign.pk), lambda: _campaign_scope(campaign))
    if channel_ids and (channel is None or channel.pk not in channel_ids):
        reasons.append("wrong_channel")
    if store_ids and (store is None or store.pk not in store_ids):
        reasons.append("wrong_store")
    if coupon.member_id and (member is None or coupon.member_id != member.pk):
        reasons.append("not_yours" if member else "member_required")
    if coupon.max_uses is not None and coupon.times_used >= coupon.max_uses:
        reasons.append("used_up")
    if campaign.budget is not None and campaign.redeemed_count >= campaign.budget:
        reasons.append("budget_exhausted")
    if campaign.per_member_limit is not None:
        if member is None:
            reasons.append("member_required")
        elif _member_uses(campaign, member) >= campaign.per_member_limit:
            reasons.append("member_limit")
    eligible = _eligible_amount(campaign, lines)
    if lines and eligible == 0:
        reasons.append("no_eligible_items")
    elif eligible < campaign.min_spend:
        reasons.append("below_minimum")
    discount = Decimal(0) if reasons else _discount(campaign, eligible)
    return Validation(
        applies=not reasons,
        discount=discount,
        eligible_amount=eligible,
        reasons=[{"code": r, "message": str(REASONS[r](campaign))} for r in dict.fromkeys(reasons)],
        coupon=coupon,
    )


def _member_uses(campaign: CouponCampaign, member: Member) -> int:
    return CouponRedemption.objects.filter(
        coupon__campaign=campaign, member=member, status=CouponRedemption.Status.REDEEMED
    ).count()


def _discount(campaign: CouponCampaign, eligible: Decimal) -> Decimal:
    if campaign.discount_type == CouponCampaign.Discount.AMOUNT:
        discount = campaign.amount
    else:
        discount = eligible * campaign.percent / Decimal(100)
        if campaign.max_discount is not None:
            discount = min(discount, campaign.max_discount)
    return money_round(min(discount, eligible))


_COUPON, _CAMPAIGN = Coupon._meta.db_table, CouponCampaign._meta.db_table


@transaction.atomic
def coupon_redeem(**kwargs) -> CouponRedemption:
    """Uses the coupon on an order (see ``coupon_redeem_in_transaction``), in a transaction of its own or
    a savepoint of the caller's."""
    return coupon_redeem_in_transaction(**kwargs)


def coupon_redeem_in_transaction(
    *,
    code: str,
    lines: list[CartLine],
    reference: str,
    member: Member | None = None,
    channel: SalesChannel | None = None,
    store: Location | None = None,
) -> CouponRedemption:
    """Uses the coupon on an order. The code's use count and the campaign's budget each move by one
    conditional update, so a single-use code raced by many requests succeeds once; a refusal is a 409
    ``coupon_not_applicable`` with the reasons, and nothing changes. For a caller in a transaction that
    any error rolls back whole (order placement): no savepoint of its own."""
    result = coupon_validate(code=code, lines=lines, member=member, channel=channel, store=store)
    coupon = result.coupon
    if not result.applies:
        raise ConflictError(
            result.reasons[0]["message"], code="coupon_not_applicable", details={"reasons": result.reasons}
        )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_COUPON} SET times_used = times_used + 1 WHERE id = %s "  # noqa: S608
            "AND (max_uses IS NULL OR times_used < max_uses) RETURNING id",
            [coupon.pk],
        )
        used = cursor.fetchone()
        cursor.execute(
            f"UPDATE {_CAMPAIGN} SET redeemed_count = redeemed_count + 1 WHERE id = %s "  # noqa: S608
            "AND (budget IS NULL OR redeemed_count < budget) RETURNING id",
            [coupon.campaign_id],
        )
        within_budget = cursor.fetchone()
    if not used or not within_budget:
        reason = "used_up" if not used else "budget_exhausted"
        raise ConflictError(
            str(REASONS[reason](coupon.campaign)),
            code="coupon_not_applicable",
            details={"reasons": [{"code": reason, "message": str(REASONS[reason](coupon.campaign))}]},
        )
    if coupon.campaign.per_member_limit is not None and member is not None:
        # the member's row serialises their own redemptions of this campaign
        Member.objects.select_for_update().filter(pk=member.pk).first()
        if _member_uses(coupon.campaign, member) >= coupon.campaign.per_member_limit:
            raise ConflictError(
                str(REASONS["member_limit"](coupon.campaign)),
                code="coupon_not_applicable",
                details={
                    "reasons": [{"code": "member_limit", "message": str(REASONS["member_limit"](coupon.campaign))}]
                },
            )
    redemption = CouponRedemption.objects.create(
        coupon=coupon, member=member, reference=reference, discount=result.discount, channel=channel, store=store
    )
    event_emit(
        event_type="coupon.redeemed",
        aggregate_type="member" if member is not None else "coupon",
        aggregate_id=member.member_no if member is not None else coupon.code,
        channel=channel,
        payload={
            "member_no": member.member_no if member is not None else None,
            "code": coupon.code,
            "campaign": coupon.campaign_id,
            "reference": reference,
            "discount": result.discount,
            "store": store.code if store is not None else None,
        },
    )
    return redemption


@transaction.atomic
def coupon_reinstate(*, reference: str) -> int:
    """Gives back the coupons an order used when it is cancelled or returned, where the campaign says
    so. Idempotent; returns how many were given back."""
    redemptions = list(
        CouponRedemption.objects.select_for_update(of=("self",))
        .select_related("coupon__campaign")
        .filter(reference=reference, status=CouponRedemption.Status.REDEEMED)
        .filter(Q(coupon__campaign__reinstate_on_cancel=True))
    )
    for redemption in redemptions:
        Coupon.objects.filter(pk=redemption.coupon_id, times_used__gt=0).update(times_used=F("times_used") - 1)
        CouponCampaign.objects.filter(pk=redemption.coupon.campaign_id, redeemed_count__gt=0).update(
            redeemed_count=F("redeemed_count") - 1
        )
    CouponRedemption.objects.filter(pk__in=[r.pk for r in redemptions]).update(
        status=CouponRedemption.Status.REINSTATED
    )
    return len(redemptions)


__all__ = [
    "CartLine",
    "Validation",
    "campaign_create",
    "coupon_collect",
    "coupon_create_shared",
    "coupon_eligible_lines",
    "coupon_redeem",
    "coupon_reinstate",
    "coupon_validate",
    "coupons_issue",
]
