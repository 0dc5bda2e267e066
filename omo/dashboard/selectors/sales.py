"""Sales: by day against the comparison period, by channel and store, top products and categories,
and the margin where the cost is known (moving-average cost)."""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext as _

from catalog.models import Category, Variant
from omo.dashboard.figures import Column, Figure, Kpi, Page, money_per, ratio
from omo.dashboard.filters import Filters
from omo.dashboard.rollups import ZERO, product_rows, sales_rows
from omo.dashboard.selectors.common import channel_names, store_names

TOP = 20


def totals(filters: Filters | None) -> dict:
    """The period's sales metrics summed, with ``net`` (sales − refunds) and ``margin`` (on costed sales)."""
    if filters is None:
        return {}
    rows = sales_rows(filters, ())
    row = rows[0] if rows else {}
    out = {k: row.get(k, 0) for k in ("orders", "member_orders", "units", "returns")}
    out.update({k: row.get(k, ZERO) for k in ("sales", "discounts", "cost", "costed_sales", "refunds")})
    out["net"] = out["sales"] - out["refunds"]
    out["ticket"] = money_per(out["sales"], out["orders"])
    out["margin"] = ratio(out["costed_sales"] - out["cost"], out["costed_sales"])
    return out


def page(filters: Filters) -> Page:
    compare = filters.comparison()
    now, before = totals(filters), totals(compare)
    kpis = [
        Kpi(_("Sales"), now["sales"], "money", before.get("sales"),
            _("Paid for the goods, tax included, without shipping.")),
        Kpi(_("Orders"), now["orders"], "int", before.get("orders")),
        Kpi(_("Average ticket"), now["ticket"], "money", before.get("ticket")),
        Kpi(_("Units"), now["units"], "int", before.get("units")),
        Kpi(_("Refunds"), now["refunds"], "money", before.get("refunds")),
        Kpi(_("Net sales"), now["net"], "money", before.get("net")),
        Kpi(_("Gross margin"), now["margin"], "pct", before.get("margin"), _("On the sales whose cost is known.")),
        Kpi(_("Member orders"), ratio(now["member_orders"], now["orders"]), "pct",
            ratio(before.get("member_orders"), before.get("orders"))),
    ]  # fmt: skip
    return Page(
        key="sales",
        title=_("Sales"),
        kpis=kpis,
        figures=[
            by_day(filters, compare),
            by_channel(filters, compare),
            by_store(filters, compare),
            top_products(filters),
            top_categories(filters),
            margin_by_channel(filters),
        ],
    )


def by_day(filters: Filters, compare: Filters | None) -> Figure:
    now = {r["day"]: r for r in sales_rows(filters, ("day",))}
    before = {r["day"]: r for r in sales_rows(compare, ("day",))} if compare else {}
    rows = []
    then = compare.day_list() if compare else []
    for i, day in enumerate(filters.day_list()):
        other = then[i] if i < len(then) else None
        r, o = now.get(day, {}), before.get(other, {})
        rows.append({
            "day": day, "orders": r.get("orders", 0), "sales": r.get("sales", ZERO),
            "refunds": r.get("refunds", ZERO), "compare_day": other,
            "compare_sales": o.get("sales", ZERO) if other else None,
        })  # fmt: skip
    columns = [
        Column("day", _("Day"), "date"),
        Column("orders", _("Orders"), "int"),
        Column("sales", _("Sales"), "money"),
        Column("refunds", _("Refunds"), "money"),
    ]
    series = ["sales"]
    if compare:
        columns += [
            Column("compare_day", _("Comparison day"), "date"),
            Column("compare_sales", _("Sales then"), "money"),
        ]
        series.append("compare_sales")
    return Figure("by_day", _("Sales by day"), columns, rows, chart={"type": "line", "x": "day", "series": series})


def _change(now, before) -> Decimal | None:
    if before in (None, 0) or now is None:
        return None
    return ratio(Decimal(now) - Decimal(before), abs(Decimal(before)))


def _grouped(filters: Filters, compare: Filters | None, dim: str, names: dict) -> list[dict]:
    now = {r[dim]: r for r in sales_rows(filters, (dim,))}
    before = {r[dim]: r for r in sales_rows(compare, (dim,))} if compare else {}
    total = sum((r["sales"] for r in now.values()), ZERO)
    rows = []
    for key in set(now) | set(before):
        r, o = now.get(key, {}), before.get(key, {})
        sales = r.get("sales", ZERO)
        rows.append({
            "name": names.get(key, str(key)), "orders": r.get("orders", 0), "sales": sales,
            "ticket": money_per(sales, r.get("orders")), "share": ratio(sales, total),
            "refunds": r.get("refunds", ZERO), "compare_sales": o.get("sales", ZERO) if compare else None,
            "change": _change(sales, o.get("sales")) if compare else None,
        })  # fmt: skip
    rows.sort(key=lambda r: (-r["sales"], r["name"]))
    return rows


def _grouped_columns(first: Column, compare: Filters | None) -> list[Column]:
    columns = [
        first,
        Column("orders", _("Orders"), "int"),
        Column("sales", _("Sales"), "money"),
        Column("ticket", _("Average ticket"), "money"),
        Column("share", _("Share"), "pct"),
        Column("refunds", _("Refunds"), "money"),
    ]
    if compare:
        columns += [Column("compare_sales", _("Sales then"), "money"), Column("change", _("Change"), "pct")]
    return columns


def by_channel(filters: Filters, compare: Filters | None) -> Figure:
    rows = _grouped(filters, compare, "channel_id", channel_names())
    series = ["sales"] + (["compare_sales"] if compare else [])
    return Figure(
        "by_channel",
        _("Sales by channel"),
        _grouped_columns(Column("name", _("Channel")), compare),
        rows,
        chart={"type": "bar", "x": "name", "series": series},
    )


def by_store(filters: Filters, compare: Filters | None) -> Figure:
    rows = _grouped(filters, compare, "store_id", store_names())
    series = ["sales"] + (["compare_sales"] if compare else [])
    return Figure(
        "by_store",
        _("Sales by store"),
        _grouped_columns(Column("name", _("Store")), compare),
        rows,
        chart={"type": "bar", "x": "name", "series": series, "horizontal": True, "limit": 25},
        note=_("Online orders picked up in a store count for that store; shipped online orders are on their own row."),
    )


def _margin(sales, cost) -> Decimal | None:
    return None if cost is None else ratio(sales - cost, sales)


def top_products(filters: Filters) -> Figure:
    rows = sorted(product_rows(filters, ("variant_id",)), key=lambda r: (-r["sales"], r["variant_id"]))[:TOP]
    variants = {
        v.pk: v for v in Variant.objects.filter(pk__in=[r["variant_id"] for r in rows]).select_related("product")
    }
    out = []
    for rank, r in enumerate(rows, start=1):
        v = variants.get(r["variant_id"])
        out.append({
            "rank": rank, "sku": v.sku if v else r["variant_id"], "name": v.product.name if v else "",
            "units": r["units"], "sales": r["sales"], "margin": _margin(r["sales"], r["cost"]),
        })  # fmt: skip
    return Figure(
        "top_products",
        _("Top products"),
        [
            Column("rank", _("Rank"), "int"),
            Column("sku", _("SKU")),
            Column("name", _("Product")),
            Column("units", _("Units"), "int"),
            Column("sales", _("Sales"), "money"),
            Column("margin", _("Gross margin"), "pct"),
        ],
        out,
        chart={"type": "bar", "x": "sku", "series": ["sales"], "horizontal": True},
    )


def top_categories(filters: Filters) -> Figure:
    rows = product_rows(filters, ("category_id",))
    total = sum((r["sales"] for r in rows), ZERO)
    names = {c.pk: c.name for c in Category.objects.filter(pk__in=[r["category_id"] for r in rows])}
    out = sorted(
        (
            {
                "name": names.get(r["category_id"], "—"), "units": r["units"], "sales": r["sales"],
                "share": ratio(r["sales"], total), "margin": _margin(r["sales"], r["cost"]),
            }
            for r in rows
        ),
        key=lambda r: (-r["sales"], r["name"]),
    )[:TOP]  # fmt: skip
    return Figure(
        "top_categories",
        _("Top categories"),
        [
            Column("name", _("Category")),
            Column("units", _("Units"), "int"),
            Column("sales", _("Sales"), "money"),
            Column("share", _("Share"), "pct"),
            Column("margin", _("Gross margin"), "pct"),
        ],
        out,
        chart={"type": "doughnut", "x": "name", "series": ["sales"], "limit": 10},
    )


def margin_by_channel(filters: Filters) -> Figure:
    names = channel_names()
    rows = []
    for r in sorted(sales_rows(filters, ("channel_id",)), key=lambda r: names.get(r["channel_id"], "")):
        rows.append({
            "name": names.get(r["channel_id"], ""), "sales": r["sales"], "costed_sales": r["costed_sales"],
            "cost": r["cost"], "profit": r["costed_sales"] - r["cost"],
            "margin": ratio(r["costed_sales"] - r["cost"], r["costed_sales"]),
            "coverage": ratio(r["costed_sales"], r["sales"]),
        })  # fmt: skip
    return Figure(
        "margin",
        _("Gross margin by channel"),
        [
            Column("name", _("Channel")),
            Column("sales", _("Sales"), "money"),
            Column("costed_sales", _("Sales with a known cost"), "money"),
            Column("cost", _("Cost"), "money"),
            Column("profit", _("Gross profit"), "money"),
            Column("margin", _("Gross margin"), "pct"),
            Column("coverage", _("Cost known for"), "pct"),
        ],
        rows,
        chart={"type": "bar", "x": "name", "series": ["margin"]},
        note=_(
            "Cost: the moving-average cost on the night the day was rolled up (today: now); SKUs without one left out."
        ),
    )
