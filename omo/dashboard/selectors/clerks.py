"""Clerk attribution (推薦人機制) for HQ: attributed sales and commission by store and by clerk, the binding
sources (and rules) that bring the most, and the monthly settlement's status.

Read from the daily rollup of ``AttributionLine`` (``ClerkDay``; today and days not rolled up yet live
from the lines by the same query). A line is an order line credited to a clerk and store; returns and
cancellations add negative ``clawback`` lines dated the day they happen, so a period's figures are
the sales credited in it minus what was taken back in it. A store filter keeps the lines credited to
its stores (an online order credited to store A counts for A); a channel filter, the order's channel."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from attribution.models import SettlementLine, SettlementPeriod, Source
from omo.dashboard.figures import Column, Figure, Kpi, Page, ratio
from omo.dashboard.filters import Filters, last_months
from omo.dashboard.models import ClerkDay
from omo.dashboard.rollups import CLERK_METRICS, ZERO, clerk_rows
from omo.dashboard.selectors.common import store_names
from omo.org.models import StaffProfile

MONTHS = 12


def _rule_labels() -> dict[str, str]:
    return {
        "pos_sale": _("Sold at the counter by the clerk"),
        "referral_code": _("The clerk's referral code on the order"),
        "referral_code_departed": _("Referral code of a clerk who left (the store)"),
        "latest_binding": _("The latest binding wins"),
        "first_binding": _("The first binding wins"),
        "split": _("Split between bindings"),
    }


Level = ClerkDay.Level


def _amounts(row: dict) -> dict:
    """A summed ``ClerkDay`` row with money as Decimals to the cent, ``taken_back`` positive and ``net``
    = sales credited − taken back."""
    out = {k: row.get(k) for k in row if k not in CLERK_METRICS}
    out["orders"] = row.get("orders") or 0
    for key in ("sales", "commission", "store_amount", "personal_amount"):
        out[key] = (row.get(key) or ZERO).quantize(Decimal("0.01"))
    out["taken_back"] = ZERO - (row.get("clawed") or ZERO).quantize(Decimal("0.01"))
    out["net"] = out["sales"] - out["taken_back"]
    return out


def _levels(filters: Filters) -> dict[str, Level]:
    """Which ``ClerkDay`` level holds the period's total and its by-source figures: with one store
    chosen, that store's rows; otherwise the rows above the stores (several stores are computed live
    from their own lines, where those levels are theirs alone)."""
    one_store = filters.store_ids is not None and len(filters.store_ids) == 1
    return {
        "total": Level.STORE if one_store else Level.ALL,
        "source": Level.SOURCE_STORE if one_store else Level.SOURCE,
    }


def _split(filters: Filters, rows: list[dict]) -> dict[str, list[dict]]:
    levels = _levels(filters)
    out: dict[str, list[dict]] = {"total": [], "store": [], "clerk": [], "source": []}
    for r in rows:
        if r["level"] == levels["total"]:
            out["total"].append(r)
        if r["level"] == Level.STORE:
            out["store"].append(r)
        elif r["level"] == Level.CLERK:
            out["clerk"].append(r)
        elif r["level"] == levels["source"]:
            out["source"].append(r)
    return out


def _total(rows: list[dict], clerk_rows: list[dict]) -> dict:
    """The period's total (one row at most) and the clerks credited: those with a sale in it."""
    out = _amounts(rows[0] if rows else {})
    out["clerks"] = len({r["clerk_id"] for r in clerk_rows if r["clerk_id"] and r["orders"]})
    return out


def totals(filters: Filters | None) -> dict:
    """The period's figures summed: orders credited, sales credited, taken back, net, commission (net
    of claw-backs) and its store and personal parts, and clerks credited."""
    if filters is None:
        return {}
    parts = _split(filters, clerk_rows(filters, [_levels(filters)["total"], Level.CLERK]))
    return _total(parts["total"], parts["clerk"])


def grouped(filters: Filters) -> tuple[dict, list[dict], list[dict], list[dict]]:
    """(totals, by store, by clerk and store, by binding source and rule) of the period, from one read
    of the rollup (and today's lines)."""
    levels = _levels(filters)
    parts = _split(filters, clerk_rows(filters, {levels["total"], Level.STORE, Level.CLERK, levels["source"]}))
    return (
        _total(parts["total"], parts["clerk"]),
        [_amounts(r) for r in parts["store"]],
        [_amounts(r) for r in parts["clerk"]],
        [_amounts(r) for r in parts["source"]],
    )


def page(filters: Filters) -> Page:
    now, store_rows, clerk_rows, source_rows = grouped(filters)
    before = totals(filters.comparison())
    names = store_names()
    kpis = [
        Kpi(_("Attributed sales"), now["net"], "money", before.get("net"),
            _("Sales credited to clerks and stores, less what returns and cancellations took back.")),
        Kpi(_("Commission"), now["commission"], "money", before.get("commission"), _("Net of claw-backs.")),
        Kpi(_("Of which personal"), now["personal_amount"], "money", before.get("personal_amount")),
        Kpi(_("Attributed orders"), now["orders"], "int", before.get("orders")),
        Kpi(_("Taken back by returns and cancellations"), now["taken_back"], "money", before.get("taken_back")),
        Kpi(_("Clerks credited"), now["clerks"], "int", before.get("clerks")),
    ]  # fmt: skip
    return Page(
        key="clerks",
        title=_("Clerk attribution"),
        kpis=kpis,
        figures=[
            by_store(store_rows, names, now),
            by_clerk(clerk_rows, names, now),
            by_source(source_rows, now),
            settlement(filters),
        ],
        note=_(
            "Sales are credited on the day the order was paid; returns and cancellations are taken back on their day."
        ),
    )


def _total_row(first_key: str, now: dict) -> dict:
    keys = ("orders", "sales", "taken_back", "net", "commission", "store_amount", "personal_amount")
    return {first_key: _("Total"), **{k: now[k] for k in keys}, "share": ratio(now["net"], now["net"])}


def _money_columns() -> list[Column]:
    return [
        Column("orders", _("Orders"), "int"),
        Column("sales", _("Sales credited"), "money"),
        Column("taken_back", _("Taken back"), "money"),
        Column("net", _("Attributed sales"), "money"),
        Column("commission", _("Commission"), "money"),
        Column("store_amount", _("Store part"), "money"),
        Column("personal_amount", _("Personal part"), "money"),
    ]


def by_store(rows: list[dict], names: dict, now: dict) -> Figure:
    for r in rows:
        r["name"] = names.get(r["store_id"], str(r["store_id"]))
        r["share"] = ratio(r["net"], now["net"])
    rows.sort(key=lambda r: (-r["net"], r["name"]))
    return Figure(
        "by_store",
        _("Attributed sales by store"),
        [Column("name", _("Store")), *_money_columns(), Column("share", _("Share"), "pct")],
        rows,
        chart={"type": "bar", "x": "name", "series": ["net", "commission"], "horizontal": True, "limit": 25},
        note=_("Orders: those credited in the period (an order split between two clerks counts once in the total)."),
        total=_total_row("name", now),
    )


def by_clerk(rows: list[dict], names: dict, now: dict) -> Figure:
    profiles = dict(
        StaffProfile.objects.filter(user_id__in={r["clerk_id"] for r in rows if r["clerk_id"]}).values_list(
            "user_id", "display_name"
        )
    )
    for r in rows:
        r["clerk"] = profiles.get(r["clerk_id"], str(r["clerk_id"])) if r["clerk_id"] else _("The store (nobody)")
        r["store"] = names.get(r["store_id"], str(r["store_id"]))
        r["share"] = ratio(r["net"], now["net"])
    rows.sort(key=lambda r: (-r["net"], r["clerk"], r["store"]))
    return Figure(
        "by_clerk",
        _("Attributed sales by clerk"),
        [
            Column("clerk", _("Clerk")),
            Column("store", _("Store")),
            *_money_columns(),
            Column("share", _("Share"), "pct"),
        ],
        rows,
        chart={"type": "bar", "x": "clerk", "series": ["net"], "horizontal": True, "limit": 20},
        note=_("A clerk credited at two stores has a row for each. The store (nobody): credits of clerks who left."),
        total={**_total_row("clerk", now), "store": ""},
    )


def by_source(grouped: list[dict], now: dict) -> Figure:
    """By the source of the binding behind each line and the rule that credited it (a claw-back counts
    under the rule of the line it takes back): counter sales and referral codes have no binding."""
    sources, rules = dict(Source.choices), _rule_labels()
    rows = []
    for r in grouped:
        source = str(sources.get(r["source"], r["source"])) if r["source"] else _("No binding")
        rule = rules.get(r["rule"], r["rule"])
        rows.append({**r, "source_label": source, "rule_label": rule, "name": f"{source} · {rule}",
                     "share": ratio(r["net"], now["net"])})  # fmt: skip
    rows.sort(key=lambda r: (-r["net"], r["name"]))
    return Figure(
        "by_source",
        _("What brings attributed sales"),
        [
            Column("source_label", _("Binding source")),
            Column("rule_label", _("Rule")),
            *_money_columns()[:5],
            Column("share", _("Share"), "pct"),
        ],
        rows,
        chart={"type": "bar", "x": "name", "series": ["net"], "horizontal": True},
        note=_(
            "The binding that made the member the clerk's (QR sign-up, a counter sale, a referral link, LINE, "
            "HQ); sales at the counter and orders with a clerk's referral code need no binding."
        ),
        total={**_total_row("source_label", now), "rule_label": ""},
    )


def settlement(filters: Filters) -> Figure:
    """The last 12 months up to the period's end: each month's settlement status and its totals (for a
    store filter, that store's lines only)."""
    months = last_months(filters.end, MONTHS)
    periods = {p.month: p for p in SettlementPeriod.objects.filter(month__in=months)}
    totals_qs = SettlementLine.objects.filter(period__month__in=months)
    if filters.store_ids is not None:
        totals_qs = totals_qs.filter(store_id__in=filters.store_ids)
    sums = {
        r["period__month"]: r
        for r in totals_qs.values("period__month")
        .annotate(
            people=Count("id", filter=Q(clerk__isnull=False)),
            base_sum=Sum("base"),
            commission_sum=Sum("commission"),
            adjustments_sum=Sum("adjustments"),
            payable_sum=Sum("payable"),
        )
        .order_by()
    }
    statuses = dict(SettlementPeriod.Status.choices)
    rows = []
    for month in months:
        p, s = periods.get(month), sums.get(month, {})
        rows.append({
            "month": month.strftime("%Y-%m"),
            "status": str(statuses[p.status]) if p else _("Not built"),
            "clerks": s.get("people", 0),
            "base": s.get("base_sum") or ZERO, "commission": s.get("commission_sum") or ZERO,
            "adjustments": s.get("adjustments_sum") or ZERO, "payable": s.get("payable_sum") or ZERO,
            "built": timezone.localdate(p.built_at) if p and p.built_at else None,
            "approved": timezone.localdate(p.approved_at) if p and p.approved_at else None,
            "paid": timezone.localdate(p.paid_at) if p and p.paid_at else None,
        })  # fmt: skip
    total = {
        "month": _("Total"),
        **{k: sum((r[k] for r in rows), ZERO) for k in ("base", "commission", "adjustments", "payable")},
    }
    return Figure(
        "settlement",
        _("Settlement by month"),
        [
            Column("month", _("Month")),
            Column("status", _("Status")),
            Column("clerks", _("Clerks"), "int"),
            Column("base", _("Attributed sales"), "money"),
            Column("commission", _("Commission"), "money"),
            Column("adjustments", _("Adjustments"), "money"),
            Column("payable", _("Payable"), "money"),
            Column("built", _("Draft built on"), "date"),
            Column("approved", _("Approved on"), "date"),
            Column("paid", _("Paid on"), "date"),
        ],
        rows,
        chart={"type": "bar", "x": "month", "series": ["payable"]},
        note=_(
            "The settlement of the 12 months up to the period's end: a month holds the lines that entered "
            "settlement by its end (a sale after its lock-up days), whenever they were paid. The channel "
            "filter does not apply."
        ),
        total=total,
    )
