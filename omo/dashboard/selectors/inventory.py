"""Inventory health: stock-outs by location and the SKUs out at the most locations, days of cover,
transfers in transit, lots expiring soon, and stock value at moving-average cost.

Stock is a snapshot of now (stock levels, lots and transfers as they are); only days of cover read
the period, through the sales of the 28 days up to its last day. A store filter (or a store
manager) narrows every figure to those locations; HQ without a filter sees every location, the
warehouses included. The channel filter does not apply: stock belongs to locations, not channels.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, DecimalField, ExpressionWrapper, F, IntegerField, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import Product, Variant
from inventory.models import LotStock, MovementKind, StockLevel, StockMovement, Transfer, TransferLine
from omo.dashboard.figures import Column, Figure, Kpi, Page, cents, ratio
from omo.dashboard.filters import Filters, day_start, ids_q, sql_in
from omo.dashboard.selectors.common import store_names
from omo.org.models import Location

COVER_DAYS = 28  # the sales behind days of cover: the 28 days up to the period's last day
EXPIRY_DAYS = 30  # lots expiring within this many days after today
TOP = 20
MAX_TRANSFERS = 100
MAX_LOTS = 50
ZERO = Decimal("0.00")
CENT = Decimal("0.01")
VALUE_FIELD = DecimalField(max_digits=20, decimal_places=4)
# (key, the cover in whole days is at most this; None: above the last)
BUCKETS = (("d0_7", 7), ("d8_30", 30), ("d31_90", 90), ("d91", None))
# a stock row counted for stock-outs and cover: an active variant of an active product at an active location
ACTIVE = Q(variant__is_active=True, variant__product__status=Product.Status.ACTIVE, location__is_active=True)
AVAILABLE = ExpressionWrapper(F("on_hand") - F("reserved"), output_field=IntegerField())


def bucket_labels() -> dict[str, str]:
    return {
        "d0_7": _("0–7 days"),
        "d8_30": _("8–30 days"),
        "d31_90": _("31–90 days"),
        "d91": _("Over 90 days"),
        "none": _("No sales"),
    }


def _active_levels(filters: Filters):
    """Stock rows of active SKUs (active variant of an active product) at active locations in scope,
    with ``available`` = on hand - reserved."""
    return (
        StockLevel.objects.filter(ACTIVE, ids_q("location_id", filters.store_ids))
        .annotate(available=AVAILABLE)
        .order_by()
    )


def location_rows(filters: Filters) -> list[dict]:
    """Per location in scope, in one pass over its stock rows: the stock-out counts (active SKUs at an
    active location) and the stock on hand with its value at moving-average cost (every SKU)."""
    out = Q(available__lte=0)
    below = Q(available__gt=0, available__lt=F("safety_stock"))
    return list(
        StockLevel.objects.filter(ids_q("location_id", filters.store_ids))
        .annotate(available=AVAILABLE)
        .order_by()
        .values("location_id")
        .annotate(
            skus=Count("id", filter=ACTIVE),
            out=Count("id", filter=ACTIVE & out),
            below=Count("id", filter=ACTIVE & below),
            held=Count("id", filter=Q(on_hand__gt=0)),
            units=Sum("on_hand"),
            uncosted=Sum("on_hand", filter=Q(variant__cost__isnull=True)),
            value=Sum(F("on_hand") * F("variant__cost__average_cost"), output_field=VALUE_FIELD),
        )
    )


def page(filters: Filters) -> Page:
    names = store_names()
    locations = location_rows(filters)
    outs, worst, out_skus = stock_outs(filters, names, locations)
    transit, transit_totals = in_transit(filters, names)
    expiring, lots, soon, expired = lots_expiring(filters, names)
    value = stock_value(names, locations)
    total_value = value.total["value"] if value.total else ZERO
    kpis = [
        Kpi(_("Stock value"), total_value, "money", None,
            _("On hand at the moving-average cost; SKUs without a known cost are left out.")),
        Kpi(_("SKUs out of stock"), out_skus, "int", None,
            _("Active SKUs with nothing available (on hand less reserved) at one location or more.")),
        Kpi(_("Units in transit"), transit_totals["units"], "int", None, _("Shipped on transfers not received yet.")),
        Kpi(_("Units expiring within 30 days"), soon, "int", None,
            _("Lots expiring from today to 30 days on; %(expired)d more units already expired and still on hand.")
            % {"expired": expired}),
    ]  # fmt: skip
    return Page(
        key="inventory",
        title=_("Inventory health"),
        kpis=kpis,
        figures=[outs, worst, cover(filters, names), transit, expiring, lots, value],
        note=_(
            "Stock is a snapshot of now: stock levels, lots and transfers as they are, whatever the dates chosen "
            "(so there are no comparison values). Only days of cover read the period: the sales of the %(days)d days "
            "up to its last day. The channel filter does not apply to stock."
        )
        % {"days": COVER_DAYS},
    )


# --- stock-outs ---------------------------------------------------------------------------------------


def stock_outs(filters: Filters, names: dict, locations: list[dict]) -> tuple[Figure, Figure, int]:
    """(stock-outs by location, the SKUs out at the most locations, number of SKUs out somewhere)."""
    rows = [
        {
            "name": names.get(r["location_id"], str(r["location_id"])), "skus": r["skus"], "out": r["out"],
            "below": r["below"], "share": ratio(r["out"], r["skus"]),
        }
        for r in locations
        if r["skus"]
    ]  # fmt: skip
    rows.sort(key=lambda r: (-r["out"], -r["below"], r["name"]))
    total = {
        "name": _("Total"),
        "skus": sum(r["skus"] for r in rows),
        "out": sum(r["out"] for r in rows),
        "below": sum(r["below"] for r in rows),
    }
    total["share"] = ratio(total["out"], total["skus"])
    by_location = Figure(
        "stock_outs",
        _("Stock-outs by location"),
        [
            Column("name", _("Location")),
            Column("skus", _("SKUs stocked"), "int"),
            Column("out", _("Out of stock"), "int"),
            Column("below", _("Below safety stock"), "int"),
            Column("share", _("Share out of stock"), "pct"),
        ],
        rows,
        chart={"type": "bar", "x": "name", "series": ["out", "below"], "stacked": True, "horizontal": True,
               "limit": 25},
        note=_(
            "Active SKUs with a stock row at the location. Out of stock: nothing available (on hand less reserved). "
            "Below safety stock: something available, but less than the SKU's safety stock there."
        ),
        total=total,
    )  # fmt: skip

    levels = _active_levels(filters)
    worst_rows = [
        {
            "sku": r["variant__sku"], "name": r["variant__product__name"], "out": r["out"],
            "locations": r["locations"], "available": r["available"] or 0,
        }
        for r in levels.values("variant_id", "variant__sku", "variant__product__name")
        .annotate(
            out=Count("id", filter=Q(available__lte=0)),
            locations=Count("id"),
            available=Sum("available", filter=Q(available__gt=0)),
        )
        .filter(out__gt=0)
        .order_by("-out", "variant__sku")[:TOP]
    ]  # fmt: skip
    worst = Figure(
        "worst_skus",
        _("SKUs out of stock at the most locations"),
        [
            Column("sku", _("SKU")),
            Column("name", _("Product")),
            Column("out", _("Locations out of stock"), "int"),
            Column("locations", _("Locations stocking it"), "int"),
            Column("available", _("Available elsewhere"), "int"),
        ],
        worst_rows,
        chart={"type": "bar", "x": "sku", "series": ["out"], "horizontal": True},
        note=_("The %(n)d SKUs with the most stock-outs; available elsewhere: at the other locations shown.")
        % {"n": TOP},
    )
    out_skus = levels.filter(available__lte=0).values("variant_id").distinct().count()
    return by_location, worst, out_skus


# --- days of cover ------------------------------------------------------------------------------------


def sold_sql(end: date, store_ids=None, *, snapshot: bool = True) -> tuple[str, list]:
    """SQL (variant_id, location_id, units) of the units sold per SKU and location over the
    ``COVER_DAYS`` days up to ``end``: from the sale movements, or, when ``snapshot`` and the nightly snapshot
    (``CoverSold``) is of ``end`` or of the day before, from it (plus ``end``'s own sales, less those of
    the day that left the window)."""
    from omo.dashboard.models import CoverSold

    first = end - timedelta(days=COVER_DAYS - 1)
    scope, scope_params = ("1 = 1", []) if store_ids is None else sql_in("m.location_id", store_ids)
    movements = StockMovement._meta.db_table

    def moved(a: date, b: date, sign: str) -> tuple[str, list]:
        return (
            f"SELECT m.variant_id, m.location_id, {sign}m.quantity AS units FROM {movements} m "  # noqa: S608 (the model's table)
            f"WHERE m.kind = %s AND m.created_at >= %s AND m.created_at < %s AND {scope}",
            [MovementKind.SALE, day_start(a), day_start(b + timedelta(days=1)), *scope_params],
        )

    as_of = None
    if snapshot:
        days = [end, end - timedelta(days=1)]
        as_of = CoverSold.objects.filter(as_of__in=days).values_list("as_of", flat=True).first()
    if as_of is None:
        parts = [moved(first, end, "-")]
    else:
        kept, kept_params = ("1 = 1", []) if store_ids is None else sql_in("m.location_id", store_ids)
        parts = [
            (
                f"SELECT m.variant_id, m.location_id, m.units FROM {CoverSold._meta.db_table} m "  # noqa: S608 (the model's table)
                f"WHERE m.as_of = %s AND {kept}",
                [as_of, *kept_params],
            )
        ]
        if as_of < end:  # the snapshot of the day before: add today's sales, take off the day that left
            parts += [moved(end, end, "-"), moved(first - timedelta(days=1), first - timedelta(days=1), "")]
    sql = " UNION ALL ".join(p for p, _params in parts)
    params = [v for _sql, ps in parts for v in ps]
    return f"SELECT s.variant_id, s.location_id, SUM(s.units) AS units FROM ({sql}) s GROUP BY 1, 2", params  # noqa: S608 (built above)


def cover_rows(filters: Filters) -> list[tuple[int, str, int, int, int]]:
    """(location id, bucket, SKUs, units on hand, units sold) per location and cover bucket, in one query.

    Per active SKU at an active location with stock on hand or sales: sold = the units of its sale
    movements there over the ``COVER_DAYS`` days up to ``filters.end`` (``sold_sql``); cover in whole
    days = floor(on hand x COVER_DAYS / sold). No sales: the ``none`` bucket."""
    sold, sold_params = sold_sql(filters.end, filters.store_ids)
    if filters.store_ids is None:
        level_scope, scope_params = "1 = 1", []
    else:
        level_scope, scope_params = sql_in("s.location_id", filters.store_ids)
    # cover <= n whole days  <=>  on_hand x COVER_DAYS < (n + 1) x sold
    cases = " ".join(
        f"WHEN s.on_hand * {COVER_DAYS} < {limit + 1} * d.units THEN '{key}'" for key, limit in BUCKETS if limit
    )
    sql = f"""
        WITH sold AS ({sold})
        SELECT s.location_id,
               CASE WHEN d.units IS NULL OR d.units <= 0 THEN 'none' {cases} ELSE '{BUCKETS[-1][0]}' END,
               COUNT(*), SUM(s.on_hand), COALESCE(SUM(d.units), 0)
        FROM {StockLevel._meta.db_table} s
        JOIN {Variant._meta.db_table} v ON v.id = s.variant_id AND v.is_active
        JOIN {Product._meta.db_table} p ON p.id = v.product_id AND p.status = %s
        JOIN {Location._meta.db_table} l ON l.id = s.location_id AND l.is_active
        LEFT JOIN sold d ON d.variant_id = s.variant_id AND d.location_id = s.location_id
        WHERE (s.on_hand > 0 OR d.units > 0) AND {level_scope}
        GROUP BY 1, 2
    """  # noqa: S608 - table names from the models, fixed bucket texts, every value a parameter
    params = [*sold_params, Product.Status.ACTIVE, *scope_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(loc, bucket, int(n), int(on_hand), int(sold)) for loc, bucket, n, on_hand, sold in cursor.fetchall()]


def _cover_days(on_hand: int, sold: int) -> Decimal | None:
    if not sold:
        return None
    return (Decimal(on_hand) * COVER_DAYS / Decimal(sold)).quantize(Decimal("0.1"))


def cover(filters: Filters, names: dict) -> Figure:
    labels = bucket_labels()
    keys = list(labels)
    by_location: dict[int, dict] = {}
    for location_id, bucket, n, on_hand, sold in cover_rows(filters):
        row = by_location.setdefault(
            location_id,
            {"name": names.get(location_id, str(location_id)), **dict.fromkeys(keys, 0), "on_hand": 0, "sold": 0},
        )
        row[bucket] += n
        row["on_hand"] += on_hand
        row["sold"] += sold
    rows = sorted(by_location.values(), key=lambda r: r["name"])
    for row in rows:
        row["skus"] = sum(row[k] for k in keys)
        row["cover"] = _cover_days(row["on_hand"], row["sold"])
    total = {"name": _("Total"), **{k: sum(r[k] for r in rows) for k in [*keys, "skus", "on_hand", "sold"]}}
    total["cover"] = _cover_days(total["on_hand"], total["sold"])
    return Figure(
        "cover",
        _("Days of cover by location"),
        [
            Column("name", _("Location")),
            *[Column(key, labels[key], "int") for key in keys],
            Column("skus", _("SKUs"), "int"),
            Column("on_hand", _("On hand"), "int"),
            Column("sold", _("Sold in %(days)d days") % {"days": COVER_DAYS}, "int"),
            Column("cover", _("Days of cover"), "num"),
        ],
        rows,
        chart={"type": "bar", "x": "name", "series": keys, "stacked": True, "horizontal": True, "limit": 25},
        note=_(
            "SKUs per location by days of cover: on hand / average daily units sold there over the %(days)d days "
            "up to %(end)s (sale movements, so the location the goods left), in whole days. Counted: active SKUs "
            "with stock on hand or sales; out of stock with sales is 0 days."
        )
        % {"days": COVER_DAYS, "end": filters.end.isoformat()},
        total=total,
    )


# --- in transit ---------------------------------------------------------------------------------------


def in_transit(filters: Filters, names: dict) -> tuple[Figure, dict]:
    scope = (
        Q()
        if filters.store_ids is None
        else Q(origin_id__in=filters.store_ids) | Q(destination_id__in=filters.store_ids)
    )
    transfers = Transfer.objects.filter(scope, status=Transfer.Status.SHIPPED)
    shipped = F("lines__quantity_shipped") * F("lines__variant__cost__average_cost")
    rows = []
    for t in (
        transfers.values("id", "origin_id", "destination_id", "kind", "shipped_at")
        .annotate(
            lines_n=Count("lines", filter=Q(lines__quantity_shipped__gt=0)),
            units=Sum("lines__quantity_shipped"),
            value=Sum(shipped, output_field=VALUE_FIELD),
        )
        .order_by("shipped_at", "id")[:MAX_TRANSFERS]
    ):
        day = timezone.localtime(t["shipped_at"]).date() if t["shipped_at"] else None
        rows.append({
            "code": f"TR-{t['id']:06d}", "origin": names.get(t["origin_id"], ""),
            "destination": names.get(t["destination_id"], ""), "kind": str(Transfer.Kind(t["kind"]).label),
            "lines": t["lines_n"], "units": t["units"] or 0, "value": cents(t["value"]), "shipped": day,
            "age": (filters.today - day).days if day else None,
        })  # fmt: skip
    line_cost = F("quantity_shipped") * F("variant__cost__average_cost")
    sums = TransferLine.objects.filter(
        transfer__in=transfers.values("id"), quantity_shipped__gt=0
    ).aggregate(
        transfers=Count("transfer_id", distinct=True),
        lines=Count("id"),
        units=Sum("quantity_shipped"),
        value=Sum(line_cost, output_field=VALUE_FIELD),
    )  # fmt: skip
    totals = {
        "code": _("Total (%(n)d transfers)") % {"n": sums["transfers"]},
        "lines": sums["lines"],
        "units": sums["units"] or 0,
        "value": cents(sums["value"]),
    }
    figure = Figure(
        "in_transit",
        _("Transfers in transit"),
        [
            Column("code", _("Transfer")),
            Column("origin", _("From")),
            Column("destination", _("To")),
            Column("kind", _("Kind")),
            Column("lines", _("Lines"), "int"),
            Column("units", _("Units"), "int"),
            Column("value", _("Value at cost"), "money"),
            Column("shipped", _("Shipped on"), "date"),
            Column("age", _("Days in transit"), "int"),
        ],
        rows,
        chart={"type": "bar", "x": "code", "series": ["age"], "horizontal": True, "limit": 25},
        note=_(
            "Shipped and not received yet, oldest first (at most %(n)d rows; the total counts them all). "
            "A store sees the transfers from and to it."
        )
        % {"n": MAX_TRANSFERS},
        total=totals,
    )
    return figure, totals


# --- lots expiring --------------------------------------------------------------------------------------


def lots_expiring(filters: Filters, names: dict) -> tuple[Figure, Figure, int, int]:
    """(by location, the lots, units expiring within 30 days, units already expired)."""
    today = filters.today
    horizon = today + timedelta(days=EXPIRY_DAYS)
    stocks = LotStock.objects.filter(
        ids_q("location_id", filters.store_ids), on_hand__gt=0, lot__expiry_date__lte=horizon
    ).order_by()
    value = ExpressionWrapper(F("on_hand") * F("lot__variant__cost__average_cost"), output_field=VALUE_FIELD)
    soon, gone = Q(lot__expiry_date__gte=today), Q(lot__expiry_date__lt=today)
    rows = []
    for r in stocks.values("location_id").annotate(
        lots=Count("id"),
        soon_units=Sum("on_hand", filter=soon),
        soon_value=Sum(value, filter=soon),
        expired_units=Sum("on_hand", filter=gone),
        expired_value=Sum(value, filter=gone),
    ):
        rows.append({
            "name": names.get(r["location_id"], str(r["location_id"])), "lots": r["lots"],
            "soon_units": r["soon_units"] or 0, "soon_value": cents(r["soon_value"]),
            "expired_units": r["expired_units"] or 0, "expired_value": cents(r["expired_value"]),
        })  # fmt: skip
    rows.sort(key=lambda r: (-(r["soon_units"] + r["expired_units"]), r["name"]))
    total = {"name": _("Total"), **{k: sum(r[k] for r in rows) for k in ("lots", "soon_units", "expired_units")}}
    total.update(
        soon_value=sum((r["soon_value"] for r in rows), ZERO),
        expired_value=sum((r["expired_value"] for r in rows), ZERO),
    )
    by_location = Figure(
        "expiring",
        _("Lots expiring soon by location"),
        [
            Column("name", _("Location")),
            Column("lots", _("Lots"), "int"),
            Column("soon_units", _("Units expiring within 30 days"), "int"),
            Column("soon_value", _("Value expiring within 30 days"), "money"),
            Column("expired_units", _("Units expired, still on hand"), "int"),
            Column("expired_value", _("Value expired"), "money"),
        ],
        rows,
        chart={"type": "bar", "x": "name", "series": ["soon_units", "expired_units"], "stacked": True,
               "horizontal": True, "limit": 25},
        note=_(
            "Lot stock on hand expiring from %(today)s to %(horizon)s, and lots past their expiry date not written "
            "off yet; value at the moving-average cost."
        ) % {"today": today.isoformat(), "horizon": horizon.isoformat()},
        total=total,
    )  # fmt: skip
    lot_rows = [
        {
            "expiry": r["lot__expiry_date"], "days": (r["lot__expiry_date"] - today).days,
            "sku": r["lot__variant__sku"], "lot": r["lot__code"], "name": names.get(r["location_id"], ""),
            "units": r["on_hand"], "value": None if r["value"] is None else cents(r["value"]),
        }
        for r in stocks.annotate(value=value)
        .values("lot__expiry_date", "lot__variant__sku", "lot__code", "location_id", "on_hand", "value")
        .order_by("lot__expiry_date", "lot__variant__sku", "location_id")[:MAX_LOTS]
    ]  # fmt: skip
    lots = Figure(
        "expiring_lots",
        _("Lots to act on first"),
        [
            Column("expiry", _("Expires on"), "date"),
            Column("days", _("Days left"), "int"),
            Column("sku", _("SKU")),
            Column("lot", _("Lot")),
            Column("name", _("Location")),
            Column("units", _("Units"), "int"),
            Column("value", _("Value at cost"), "money"),
        ],
        lot_rows,
        note=_("The %(n)d soonest to expire (expired first); negative days: already expired.") % {"n": MAX_LOTS},
    )
    return by_location, lots, total["soon_units"], total["expired_units"]


# --- stock value ----------------------------------------------------------------------------------------


def stock_value(names: dict, locations: list[dict]) -> Figure:
    rows = [
        {
            "name": names.get(r["location_id"], str(r["location_id"])), "skus": r["held"], "units": r["units"],
            "value": cents(r["value"]), "uncosted": r["uncosted"] or 0,
            "uncosted_share": ratio(r["uncosted"] or 0, r["units"]),
        }
        for r in locations
        if r["units"]
    ]  # fmt: skip
    total_value = sum((r["value"] for r in rows), ZERO)
    for row in rows:
        row["share"] = ratio(row["value"], total_value)
    rows.sort(key=lambda r: (-r["value"], r["name"]))
    total = {
        "name": _("Total"),
        "skus": sum(r["skus"] for r in rows),
        "units": sum(r["units"] for r in rows),
        "value": total_value,
        "uncosted": sum(r["uncosted"] for r in rows),
    }
    total["uncosted_share"] = ratio(total["uncosted"], total["units"])
    total["share"] = ratio(total_value, total_value)
    return Figure(
        "stock_value",
        _("Stock value by location"),
        [
            Column("name", _("Location")),
            Column("skus", _("SKUs on hand"), "int"),
            Column("units", _("Units on hand"), "int"),
            Column("value", _("Value at cost"), "money"),
            Column("share", _("Share of value"), "pct"),
            Column("uncosted", _("Units without a cost"), "int"),
            Column("uncosted_share", _("Share of units without a cost"), "pct"),
        ],
        rows,
        chart={"type": "bar", "x": "name", "series": ["value"], "horizontal": True, "limit": 25},
        note=_(
            "On hand x the SKU's moving-average cost (every SKU, active or not). Units of SKUs without a known cost "
            "are counted but not valued. Goods in transit are not at any location: see the transfers."
        ),
        total=total,
    )
