"""Monthly commission settlement (結算方式): a draft built from the attribution lines by one aggregate
query, HQ finance's adjustments with reasons, approval (which locks the period and its lines for good),
payment or a payroll CSV; and the what-if of a draft policy on a past month.

A month's draft holds every line not settled yet that enters settlement before the month ends (a
sale enters ``lockup_days`` after it was paid, once the return window has passed; a return's negative
line on the day of the return), so a return after a period was approved lands in the next open one.
Building a draft again from the same lines gives the same totals and the same fingerprint.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from attribution.models import AttributionLine, SettlementAdjustment, SettlementLine, SettlementPeriod
from omo.core.errors import ApplicationError, BusinessRuleError, ConflictError
from omo.core.money import money_round
from omo.events.services import event_emit
from omo.org.access import ensure_permission, scope_to_user

ZERO = Decimal(0)


def _month_start(month) -> date:
    if not isinstance(month, date):
        raise ApplicationError(_("Give the month as a date."), code="invalid_month")
    return month.replace(day=1)


def _end(period: SettlementPeriod) -> date:
    return period.month + relativedelta(months=1)


def _totals(lines) -> list[dict]:
    """The (clerk, store) totals of ``lines``, in a fixed order: one aggregate query."""
    return list(
        lines.values("clerk_id", "store_id")
        .annotate(
            n=Count("id"),
            base_sum=Sum("base"),
            commission_sum=Sum("commission"),
            store_sum=Sum("store_amount"),
            personal_sum=Sum("personal_amount"),
        )
        .order_by("store_id", "clerk_id")
    )


def _adjustments(period: SettlementPeriod) -> dict[tuple, Decimal]:
    rows = period.adjustments.values("clerk_id", "store_id").annotate(total=Sum("amount"))
    return {(r["clerk_id"], r["store_id"]): r["total"] for r in rows}


def _rows(period: SettlementPeriod, totals: list[dict]) -> list[SettlementLine]:
    adjustments = _adjustments(period)
    rows = []
    for t in totals:
        adjust = adjustments.pop((t["clerk_id"], t["store_id"]), ZERO)
        rows.append(
            SettlementLine(
                period=period,
                clerk_id=t["clerk_id"],
                store_id=t["store_id"],
                lines=t["n"],
                base=t["base_sum"],
                commission=t["commission_sum"],
                store_amount=t["store_sum"],
                personal_amount=t["personal_sum"],
                adjustments=adjust,
                payable=money_round(t["commission_sum"] + adjust),
            )
        )
    for (clerk_id, store_id), adjust in sorted(adjustments.items(), key=lambda kv: (kv[0][1], kv[0][0] or 0)):
        rows.append(  # an adjustment for someone with no lines this month
            SettlementLine(
                period=period,
                clerk_id=clerk_id,
                store_id=store_id,
                lines=0,
                base=ZERO,
                commission=ZERO,
                store_amount=ZERO,
                personal_amount=ZERO,
                adjustments=adjust,
                payable=money_round(adjust),
            )
        )
    return rows


def _fingerprint(rows: list[SettlementLine]) -> str:
    text = "\n".join(
        f"{r.store_id}|{r.clerk_id}|{r.lines}|{r.base:.2f}|{r.commission:.2f}|{r.store_amount:.2f}|"
        f"{r.personal_amount:.2f}|{r.adjustments:.2f}|{r.payable:.2f}"
        for r in sorted(rows, key=lambda r: (r.store_id, r.clerk_id or 0))
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _open_lines(period: SettlementPeriod):
    return AttributionLine.objects.filter(period__isnull=True, eligible_on__lt=_end(period))


@transaction.atomic
def settlement_build(*, month, actor=None) -> SettlementPeriod:
    """Builds (or builds again) the draft of ``month`` from the lines not settled yet. An approved or
    paid month is a 409 ``period_locked`` and nothing changes."""
    if actor is not None:
        ensure_permission(actor, "attribution.change_settlementperiod")
    month = _month_start(month)
    if month > timezone.localdate().replace(day=1):
        raise BusinessRuleError(_("A month is settled once it has begun."), code="future_period")
    period, _created = SettlementPeriod.objects.get_or_create(month=month)
    period = SettlementPeriod.objects.select_for_update().get(pk=period.pk)
    if period.status != SettlementPeriod.Status.DRAFT:
        raise ConflictError(_("%(month)s is approved and locked.") % {"month": period}, code="period_locked")
    inputs = _inputs(period)
    if period.built_at is not None and period.inputs == inputs:
        return period  # nothing it is built from has changed: the same draft (lines are append-only)
    rows = _rows(period, _totals(_open_lines(period)))
    SettlementLine.objects.filter(period=period).delete()
    SettlementLine.objects.bulk_create(rows)
    period.built_at, period.fingerprint, period.inputs = timezone.now(), _fingerprint(rows), inputs
    period.save(update_fields=["built_at", "fingerprint", "inputs"])
    return period


def _inputs(period: SettlementPeriod) -> str:
    """What a draft is built from, read from three indexes: the newest attribution line (lines are
    only ever added), the newest adjustment of the period, and the last approval of any month (which
    settles lines this draft would otherwise count)."""
    from django.db.models import Max

    newest = AttributionLine.objects.aggregate(m=Max("pk"))["m"] or 0
    adjusted = period.adjustments.aggregate(m=Max("pk"))["m"] or 0
    approved = SettlementPeriod.objects.aggregate(m=Max("approved_at"))["m"]
    return f"{newest}:{adjusted}:{approved.timestamp() if approved else 0}"


def settlement_build_last_month() -> SettlementPeriod:
    """The monthly job: last month's draft, built again with whatever came in since."""
    last = timezone.localdate().replace(day=1) - relativedelta(months=1)
    period = SettlementPeriod.objects.filter(month=last).first()
    if period is not None and period.status != SettlementPeriod.Status.DRAFT:
        return period
    return settlement_build(month=last)


@transaction.atomic
def settlement_adjust(*, actor, period: SettlementPeriod, store, clerk=None, amount, reason: str):
    """HQ finance adds (or, negative, takes off) an amount for a (clerk, store) in a draft, with the
    reason; the draft's totals and fingerprint follow."""
    ensure_permission(actor, "attribution.add_settlementadjustment")
    period = SettlementPeriod.objects.select_for_update().get(pk=period.pk)
    if period.status != SettlementPeriod.Status.DRAFT:
        raise ConflictError(_("%(month)s is approved and locked.") % {"month": period}, code="period_locked")
    try:
        amount = Decimal(str(amount))
    except Exception:
        amount = None
    if amount is None or not amount.is_finite() or amount == 0 or abs(amount) > Decimal("10000000"):
        raise ApplicationError(_("Give a non-zero amount."), code="invalid_amount")
    if not reason.strip():
        raise ApplicationError(_("Give the reason for the adjustment."), code="reason_required")
    adjustment = SettlementAdjustment.objects.create(
        period=period,
        clerk=clerk,
        store=store,
        amount=amount.quantize(Decimal("0.01")),
        reason=reason.strip(),
        by=actor,
    )
    settlement_build(month=period.month)
    return adjustment


@transaction.atomic
def settlement_approve(*, actor, period: SettlementPeriod, fingerprint: str) -> SettlementPeriod:
    """Approves the draft HQ reviewed (its ``fingerprint``): the lines in it are marked settled in
    this period and the period is locked. Lines that came in since the review make the totals differ:
    a 409 ``draft_changed`` and nothing changes (build and review again). Months are approved in
    order."""
    ensure_permission(actor, "attribution.change_settlementperiod")
    period = SettlementPeriod.objects.select_for_update().get(pk=period.pk)
    if period.status != SettlementPeriod.Status.DRAFT:
        raise ConflictError(_("%(month)s is approved already.") % {"month": period}, code="period_locked")
    if SettlementPeriod.objects.filter(month__lt=period.month, status=SettlementPeriod.Status.DRAFT).exists():
        raise ConflictError(_("Approve the earlier months first."), code="earlier_period_open")
    # claim the lines first, then total what was claimed: a line committed meanwhile is either in
    # both or in neither
    _open_lines(period).update(period=period)
    rows = _rows(period, _totals(AttributionLine.objects.filter(period=period)))
    if _fingerprint(rows) != fingerprint or fingerprint != period.fingerprint:
        raise ConflictError(
            _("The draft changed since it was reviewed: build it again and review it."),
            code="draft_changed",
        )
    period.status, period.approved_by, period.approved_at = SettlementPeriod.Status.APPROVED, actor, timezone.now()
    period.save(update_fields=["status", "approved_by", "approved_at"])
    event_emit(
        event_type="settlement.approved",
        aggregate_type="settlement",
        aggregate_id=period.month.strftime("%Y-%m"),
        payload={
            "month": period.month.strftime("%Y-%m"),
            "rows": len(rows),
            "payable": sum((row.payable for row in rows), Decimal(0)),
            "approved_by": actor.get_username(),
        },
    )
    return period


@transaction.atomic
def settlement_mark_paid(*, actor, period: SettlementPeriod) -> SettlementPeriod:
    ensure_permission(actor, "attribution.change_settlementperiod")
    period = SettlementPeriod.objects.select_for_update().get(pk=period.pk)
    if period.status != SettlementPeriod.Status.APPROVED:
        raise ConflictError(_("Only an approved month is paid."), code="period_not_approved")
    period.status, period.paid_by, period.paid_at = SettlementPeriod.Status.PAID, actor, timezone.now()
    period.save(update_fields=["status", "paid_by", "paid_at"])
    return period


def settlement_csv(period: SettlementPeriod, *, user=None) -> str:
    """The period for payroll: one row per (store, clerk) with the employee code (for ``user``: the
    rows of the stores they may see)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["month", "status", "store", "employee_code", "clerk", "lines", "attributed_sales", "commission",
         "store_performance", "personal_performance", "adjustments", "payable"]
    )  # fmt: skip
    rows = period.totals.select_related("store", "clerk__staff_profile").order_by("store__code", "clerk_id")
    for row in rows if user is None else scope_to_user(rows, user):
        profile = getattr(row.clerk, "staff_profile", None) if row.clerk_id else None
        writer.writerow(
            [
                period.month.strftime("%Y-%m"),
                period.status,
                row.store.code,
                profile.employee_code if profile else "",
                profile.display_name if profile else "",
                row.lines,
                f"{row.base:.2f}",
                f"{row.commission:.2f}",
                f"{row.store_amount:.2f}",
                f"{row.personal_amount:.2f}",
                f"{row.adjustments:.2f}",
                f"{row.payable:.2f}",
            ]
        )
    return out.getvalue()


# --- what-if ------------------------------------------------------------------------------------------


def simulate(*, month, policy) -> list[dict]:
    """What the sales of ``month`` would have earned per (store, clerk) under ``policy`` (a draft, say),
    beside what they did earn under the policies in force: every order paid that month is decided
    again with the member's bindings. Returns rows with both commissions and the difference."""
    from attribution.models import Binding
    from attribution.services import build_lines, decide
    from orders.models import Order

    month = _month_start(month)
    start = timezone.make_aware(timezone.datetime(month.year, month.month, 1))
    end = start + relativedelta(months=1)
    orders = list(
        Order.objects.filter(paid_at__gte=start, paid_at__lt=end, attribution__isnull=False)
        .select_related("channel", "store", "clerk", "member")
        .prefetch_related("lines__variant__product__category")
        .order_by("pk")
    )
    bindings: dict[int, list] = {}
    for b in Binding.objects.filter(member_id__in={o.member_id for o in orders if o.member_id}).select_related("clerk"):
        bindings.setdefault(b.member_id, []).append(b)
    from omo.org.models import StaffProfile

    codes = {o.referral_code for o in orders if o.referral_code}
    referrers = {
        p.referral_code: p
        for p in StaffProfile.objects.filter(referral_code__in=codes).select_related("user", "home_store")
    }
    table: dict[tuple, dict] = {}

    def row(clerk_id, store_id):
        return table.setdefault(
            (store_id, clerk_id),
            {"store_id": store_id, "clerk_id": clerk_id, "actual": ZERO, "simulated": ZERO, "base": ZERO},
        )

    for order in orders:
        decision = decide(order, policy, bindings.get(order.member_id, []), referrers)
        for line in build_lines(order, list(order.lines.all()), policy, decision):
            r = row(line.clerk_id, line.store_id)
            r["simulated"] += line.commission
            r["base"] += line.base
    actual = (
        AttributionLine.objects.filter(kind=AttributionLine.Kind.SALE, occurred_at__gte=start, occurred_at__lt=end)
        .values("clerk_id", "store_id")
        .annotate(total=Sum("commission"))
    )
    for a in actual:
        row(a["clerk_id"], a["store_id"])["actual"] += a["total"]
    for r in table.values():
        r["difference"] = r["simulated"] - r["actual"]
    return sorted(table.values(), key=lambda r: (r["store_id"], r["clerk_id"] or 0))


def period_summary(period: SettlementPeriod) -> dict:
    totals = period.totals.aggregate(
        commission=Sum("commission"), payable=Sum("payable"), adjustments=Sum("adjustments"), n=Count("id")
    )
    clawbacks = AttributionLine.objects.filter(
        Q(period=period) | Q(period__isnull=True, eligible_on__lt=_end(period)), kind=AttributionLine.Kind.CLAWBACK
    ).aggregate(total=Sum("commission"))["total"]
    return {**{k: v or ZERO for k, v in totals.items()}, "clawbacks": clawbacks or ZERO}
