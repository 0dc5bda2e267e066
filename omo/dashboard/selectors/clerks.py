"""Clerk attribution (推薦人機制) for HQ: attributed sales and commission by store and by clerk, the binding
sources (and rules) that bring the most, and the monthly settlement's status.

Read from ``AttributionLine`` (one row per order line and credited clerk and store; returns and
cancellations add negative ``clawback`` lines dated the day they happen), so a period's figures are
the sales credited in it minus what was taken back in it. A store filter keeps the lines credited to
its stores (an online order credited to store A counts for A); a channel filter, the order's channel."""

from __future__ import annotations

from decimal import Decimal

from django.db import connection
from django.db.models import Count, F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from attribution.models import AttributionLine, SettlementLine, SettlementPeriod, Source
from omo.dashboard.figures import Column, Figure, Kpi, Page, ratio
from omo.dashboard.filters import Filters, last_months
from omo.dashboard.rollups import ZERO
from omo.dashboard.selectors.common import store_names
from omo.org.models import StaffProfile

SALE, CLAWBACK = AttributionLine.Kind.SALE, AttributionLine.Kind.CLAWBACK
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


def lines(filters: Filters):
    """The attribution lines of the period (by ``occurred_at``: paid, returned or cancelled then)."""
    since, until = filters.bounds
    qs = AttributionLine.objects.filter(occurred_at__gte=since, occurred_at__lt=until)
    if filters.store_ids is not None:
        qs = qs.filter(store_id__in=filters.store_ids)
    if filters.channel_ids is not None:
        qs = qs.filter(order__channel_id__in=filters.channel_ids)
    return qs


AMOUNTS = {
    "orders": Count("order", distinct=True, filter=Q(kind=SALE)),
    "sales": Sum("base", filter=Q(kind=SALE)),
    "clawed": Sum("base", filter=Q(kind=CLAWBACK)),
    "commission": Sum("commission"),
    "store_amount": Sum("store_amount"),
    "personal_amount": Sum("personal_amount"),
}


CLERKS = Count("clerk", distinct=True, filter=Q(kind=SALE))


def _amounts(row: dict) -> dict:
    """A grouped row with money as Decimals to the cent, ``taken_back`` positive and ``net`` = sales
    credited − taken back."""
    out = {k: row.get(k) for k in row if k not in AMOUNTS}
    out["orders"] = row.get("orders") or 0
    for key in ("sales", "commission", "store_amount", "personal_amount"):
        out[key] = (row.get(key) or ZERO).quantize(Decimal("0.01"))
    out["taken_back"] = ZERO - (row.get("clawed") or ZERO).quantize(Decimal("0.01"))
    out["net"] = out["sales"] - out["taken_back"]
    return out


def totals(filters: Filters | None) -> dict:
    """The period's figures summed (one aggregate query): orders credited, sales credited, taken back,
    net, commission (net of claw-backs) and its store and personal parts, and clerks credited."""
    if filters is None:
        return {}
    row = lines(filters).aggregate(**AMOUNTS, clerks=CLERKS)
    out = _amounts(row)
    out["clerks"] = row["clerks"] or 0
    return out


def grouped(filters: Filters) -> tuple[dict, list[dict], list[dict]]:
    """(totals, by store, by clerk and store) of the period. On PostgreSQL one scan of the lines with
    ``GROUPING SETS`` (each level keeps its own distinct orders and clerks); elsewhere three queries."""
    by_clerk_qs = lines(filters).values("store_id", "clerk_id").annotate(**AMOUNTS, clerks=CLERKS).order_by()
    sql, params = by_clerk_qs.query.sql_with_params()
    table = f'"{AttributionLine._meta.db_table}"'
    if connection.vendor != "postgresql" or not sql.startswith("SELECT ") or not sql.endswith("GROUP BY 1, 2"):
        return (
            totals(filters),
            [_amounts(r) for r in lines(filters).values("store_id").annotate(**AMOUNTS).order_by()],
            [_amounts(r) for r in by_clerk_qs],
        )
    store, clerk = f'{table}."store_id"', f'{table}."clerk_id"'
    sql = (
        f"SELECT GROUPING({store}) AS g_store, GROUPING({clerk}) AS g_clerk, "
        + sql[len("SELECT ") : -len("GROUP BY 1, 2")]
        + f"GROUP BY GROUPING SETS (({store}, {clerk}), ({store}), ())"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [c[0] for c in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    total = next((r for r in rows if r["g_store"]), None) or {}
    out_total = _amounts(
        {k: v for k, v in total.items() if k not in ("g_store", "g_clerk", "store_id", "clerk_id", "clerks")}
    )
    out_total["clerks"] = total.get("clerks") or 0
    strip = ("g_store", "g_clerk", "clerks")
    by_store = [
        _amounts({k: v for k, v in r.items() if k not in (*strip, "clerk_id")})
        for r in rows
        if r["g_clerk"] and not r["g_store"]
    ]
    by_clerk = [_amounts({k: v for k, v in r.items() if k not in strip}) for r in rows if not r["g_clerk"]]
    return out_total, by_store, by_clerk


def page(filters: Filters) -> Page:
    now, store_rows, clerk_rows = grouped(filters)
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
            by_source(filters, now),
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


def _by_source_rows(filters: Filters) -> list[dict]:
    """Grouped by (binding source, rule): the sale lines by their own rule, the claw-backs by the rule
    of the line they take back. Two queries, so that only the claw-backs join the lines they reverse."""
    sales = lines(filters).filter(kind=SALE).values(source=F("binding__source"), why=F("rule"))
    clawbacks = lines(filters).filter(kind=CLAWBACK).values(source=F("binding__source"), why=F("reverses__rule"))
    merged: dict[tuple, dict] = {}
    for r in [*sales.annotate(**AMOUNTS).order_by(), *clawbacks.annotate(**AMOUNTS).order_by()]:
        into = merged.setdefault((r["source"], r["why"]), {"source": r["source"], "why": r["why"]})
        for key in AMOUNTS:
            if r[key] is not None:
                into[key] = into.get(key, 0) + r[key]
    return list(merged.values())


def by_source(filters: Filters, now: dict) -> Figure:
    """By the source of the binding behind each line and the rule that credited it (a claw-back counts
    under the rule of the line it takes back): counter sales and referral codes have no binding."""
    grouped = _by_source_rows(filters)
    sources, rules = dict(Source.choices), _rule_labels()
    rows = []
    for r in map(_amounts, grouped):
        source = str(sources.get(r["source"], r["source"])) if r["source"] else _("No binding")
        rule = rules.get(r["why"], r["why"])
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
