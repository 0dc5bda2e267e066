"""The daily rollups' one definition, used both to fill the rollup tables (``services.rollup_refresh``)
and to compute live the days not rolled up yet (today, or days the job missed), so the two can never
disagree. Each ``*_live`` function returns plain dicts at the rollup's own grain (day, channel, store
[, variant]); ``sales_rows`` and ``product_rows`` merge rolled-up and live days for a selector."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, timedelta
from decimal import Decimal
from functools import reduce
from operator import or_

from django.db import connection
from django.db.models import Case, Count, DecimalField, F, Q, Sum, When
from django.db.models.functions import TruncDate

from omo.dashboard.figures import cents
from omo.dashboard.filters import Filters, days_q, ids_q
from omo.dashboard.models import ClerkDay, ProductDay, ProductMonth, RolledUpDay, SalesDay
from orders.models import Order, OrderLine, Refund, Return

ZERO = Decimal("0.00")
SALES_METRICS = (
    "orders", "member_orders", "units", "sales", "discounts", "cost", "costed_sales", "returns", "refunds",
)  # fmt: skip
PRODUCT_METRICS = ("units", "sales", "cost")
CLERK_DIMS = ("level", "day", "channel_id", "store_id", "clerk_id", "source", "rule")
CLERK_METRICS = ("orders", "sales", "clawed", "commission", "store_amount", "personal_amount")
L = ClerkDay.Level
# the columns each level groups by (besides day and channel); the others are NULL at that level
CLERK_LEVELS = {
    L.CLERK: ("store_id", "clerk_id"),
    L.STORE: ("store_id",),
    L.ALL: (),
    L.SOURCE_STORE: ("store_id", "source", "rule"),
    L.SOURCE: ("source", "rule"),
}
MONEY_FIELD = DecimalField(max_digits=16, decimal_places=2)


def day_runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted days as runs of consecutive days [(first, last), ...]."""
    runs: list[list[date]] = []
    for day in sorted(days):
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(a, b) for a, b in runs]


def sales_live(first: date, last: date) -> list[dict]:
    """``SalesDay`` rows for [first, last], computed from the orders: four grouped queries."""
    rows: dict[tuple, dict] = defaultdict(lambda: {m: 0 for m in SALES_METRICS})
    paid = Order.objects.filter(days_q("paid_at", first, last))
    for row in paid.values(day=TruncDate("paid_at"), ch=F("channel_id"), st=F("store_id")).annotate(
        n=Count("id"),
        n_member=Count("id", filter=Q(member__isnull=False)),
        goods=Sum(F("total") - F("shipping_fee"), output_field=MONEY_FIELD),
        off=Sum("discount_total"),
    ):
        r = rows[(row["day"], row["ch"], row["st"])]
        r.update(orders=row["n"], member_orders=row["n_member"], sales=row["goods"], discounts=row["off"])
    lines = OrderLine.objects.filter(days_q("order__paid_at", first, last))
    unit_cost = F("variant__cost__average_cost")
    for row in lines.values(
        day=TruncDate("order__paid_at"), ch=F("order__channel_id"), st=F("order__store_id")
    ).annotate(
        qty=Sum("quantity"),
        cost_sum=Sum(F("quantity") * unit_cost, output_field=MONEY_FIELD),
        costed=Sum(Case(When(variant__cost__isnull=False, then=F("net")), default=None, output_field=MONEY_FIELD)),
    ):
        r = rows[(row["day"], row["ch"], row["st"])]
        r.update(units=row["qty"], cost=row["cost_sum"] or ZERO, costed_sales=row["costed"] or ZERO)
    for row in (
        Refund.objects.filter(days_q("created_at", first, last))
        .values(day=TruncDate("created_at"), ch=F("order__channel_id"), st=F("order__store_id"))
        .annotate(amount=Sum("amount"))
    ):
        rows[(row["day"], row["ch"], row["st"])]["refunds"] = row["amount"]
    for row in (
        Return.objects.filter(days_q("created_at", first, last))
        .values(day=TruncDate("created_at"), ch=F("order__channel_id"), st=F("order__store_id"))
        .annotate(n=Count("id"))
    ):
        rows[(row["day"], row["ch"], row["st"])]["returns"] = row["n"]
    out = []
    for (day, channel_id, store_id), metrics in rows.items():
        metrics = {k: (cents(v) if k in ("sales", "discounts", "cost", "costed_sales", "refunds") else v)
                   for k, v in metrics.items()}  # fmt: skip
        out.append({"day": day, "channel_id": channel_id, "store_id": store_id, **metrics})
    return out


def product_query(first: date, last: date):
    """The grouped query behind ``ProductDay`` for [first, last] (the rollup inserts it as it is)."""
    lines = OrderLine.objects.filter(days_q("order__paid_at", first, last))
    return lines.values(
        "variant_id",
        day=TruncDate("order__paid_at"),
        ch=F("order__channel_id"),
        st=F("order__store_id"),
        cat=F("variant__product__category_id"),
    ).annotate(
        qty=Sum("quantity"),
        amount=Sum("net"),
        cost_sum=Sum(F("quantity") * F("variant__cost__average_cost"), output_field=MONEY_FIELD),
    )


def product_live(first: date, last: date) -> list[dict]:
    """``ProductDay`` rows for [first, last], computed from the order lines: one grouped query."""
    return [
        {
            "day": row["day"],
            "channel_id": row["ch"],
            "store_id": row["st"],
            "variant_id": row["variant_id"],
            "category_id": row["cat"],
            "units": row["qty"],
            "sales": cents(row["amount"]),
            "cost": None if row["cost_sum"] is None else cents(row["cost_sum"]),
        }
        for row in product_query(first, last)
    ]


def clerk_query(first: date, last: date, store_ids=None) -> tuple[str, list]:
    """SQL and parameters of the ``ClerkDay`` rows of [first, last] (columns ``CLERK_DIMS`` then
    ``CLERK_METRICS``), from the attribution lines credited to ``store_ids`` (None: every store): each
    level its own GROUP BY over the same lines. A claw-back counts under its own binding's source and
    the rule of the line it takes back."""
    from attribution.models import AttributionLine

    clawback = AttributionLine.Kind.CLAWBACK
    lines = AttributionLine.objects.filter(days_q("occurred_at", first, last))
    if store_ids is not None:
        lines = lines.filter(store_id__in=store_ids)
    inner, params = (
        lines.order_by()
        .values(
            "order_id",
            "kind",
            "base",
            "commission",
            "store_amount",
            "personal_amount",
            "store_id",
            "clerk_id",
            day=TruncDate("occurred_at"),
            ch=F("order__channel_id"),
            src=F("binding__source"),
            why=Case(When(kind=clawback, then=F("reverses__rule")), default=F("rule")),
        )
        .query.sql_with_params()
    )
    sale = f"x.kind = '{AttributionLine.Kind.SALE}'"
    names = {"store_id": "x.store_id", "clerk_id": "x.clerk_id", "source": "x.src", "rule": "x.why"}
    selects = []
    for level, dims in CLERK_LEVELS.items():
        columns = ", ".join(names[d] if d in dims else "NULL" for d in ("store_id", "clerk_id", "source", "rule"))
        group = ", ".join(["x.day", "x.ch", *(names[d] for d in dims)])
        selects.append(
            f"SELECT {int(level)}, x.day, x.ch, {columns}, "  # noqa: S608 (fixed texts; values are parameters)
            f"COUNT(DISTINCT CASE WHEN {sale} THEN x.order_id END), "
            f"COALESCE(SUM(CASE WHEN {sale} THEN x.base END), 0), "
            f"COALESCE(SUM(CASE WHEN {sale} THEN 0 ELSE x.base END), 0), "
            f"SUM(x.commission), SUM(x.store_amount), SUM(x.personal_amount) FROM x GROUP BY {group}"
        )
    return f"WITH x AS ({inner}) " + " UNION ALL ".join(selects), list(params)


def clerk_live(first: date, last: date, store_ids=None) -> list[dict]:
    """``ClerkDay`` rows of [first, last] computed from the attribution lines (``clerk_query``)."""
    sql, params = clerk_query(first, last, store_ids)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    out = []
    for row in rows:
        r = dict(zip(CLERK_DIMS + CLERK_METRICS, row, strict=True))
        if isinstance(r["day"], str):  # SQLite gives the date as text
            r["day"] = date.fromisoformat(r["day"])
        for m in CLERK_METRICS[1:]:  # SQLite sums decimals as floats: back to cents
            r[m] = cents(Decimal(str(r[m] or 0)))
        out.append(r)
    return out


def clerk_rows(filters: Filters, levels) -> list[dict]:
    """``ClerkDay`` metrics of ``levels`` summed over the period by (level, store, clerk, source, rule).
    Every store or one: rolled-up days from the rollup, the others live. Several stores (a manager of
    more than one): all live from their own lines, at the every-store levels, so an order split
    between two of them still counts once in their total."""
    dims = ("level", "store_id", "clerk_id", "source", "rule")
    keep = [int(level) for level in levels]
    if filters.store_ids is not None and len(filters.store_ids) > 1:
        lived = [(filters.start, filters.end)]
        rolled: list[dict] = []
        store_ids = filters.store_ids
    else:
        lived = day_runs(live_days(filters))
        qs = ClerkDay.objects.filter(day__range=(filters.start, filters.end), level__in=keep)
        qs = qs.filter(ids_q("channel_id", filters.channel_ids) & ids_q("store_id", filters.store_ids))
        rolled = list(qs.values(*dims).annotate(**{m: Sum(m) for m in CLERK_METRICS}).order_by())
        store_ids = None
    live = [
        r
        for first, last in lived
        for r in _cached(clerk_live, first, last, store_ids)
        if r["level"] in keep
        and (filters.channel_ids is None or r["channel_id"] in filters.channel_ids)
        and (store_ids is not None or filters.store_ids is None or r["store_id"] in filters.store_ids)
    ]
    return _merge(rolled, live, dims, CLERK_METRICS)


_live_cache: ContextVar[dict | None] = ContextVar("dashboard_live_cache", default=None)


@contextmanager
def live_cache():
    """Within the block, live days are computed once however many figures ask (a page's figures all
    read the same today)."""
    token = _live_cache.set({})
    try:
        yield
    finally:
        _live_cache.reset(token)


def _cached(function, first: date, last: date, *args) -> list[dict]:
    cache = _live_cache.get()
    if cache is None:
        return function(first, last, *args)
    key = (function.__name__, first, last, *args)
    if key not in cache:
        cache[key] = function(first, last, *args)
    return cache[key]


def live_days(filters: Filters) -> list[date]:
    """The days of ``filters`` not rolled up yet (today, always; others while the job has not run)."""
    return _cached(_live_days, filters.start, filters.end)


def _live_days(start: date, end: date) -> list[date]:
    done = set(RolledUpDay.objects.filter(day__range=(start, end)).values_list("day", flat=True))
    return [start + timedelta(days=i) for i in range((end - start).days + 1) if start + timedelta(days=i) not in done]


def _scoped(rows: Iterable[dict], filters: Filters) -> list[dict]:
    return [
        r
        for r in rows
        if (filters.store_ids is None or r["store_id"] in filters.store_ids)
        and (filters.channel_ids is None or r["channel_id"] in filters.channel_ids)
    ]


def _scope_q(filters: Filters) -> Q:
    q = Q(day__range=(filters.start, filters.end))
    if filters.store_ids is not None:
        q &= Q(store_id__in=filters.store_ids)
    if filters.channel_ids is not None:
        q &= Q(channel_id__in=filters.channel_ids)
    return q


def _merge(rolled: Iterable[dict], live: Iterable[dict], dims: tuple[str, ...], metrics: tuple[str, ...]) -> list[dict]:
    merged: dict[tuple, dict] = {}
    for row in list(rolled) + list(live):
        key = tuple(row[d] for d in dims)
        into = merged.setdefault(key, {**{d: row[d] for d in dims}, **{m: None for m in metrics}})
        for m in metrics:
            if row[m] is not None:
                into[m] = row[m] if into[m] is None else into[m] + row[m]
    return list(merged.values())


def _rolled(model, filters: Filters, dims: tuple[str, ...], metrics: tuple[str, ...]) -> list[dict]:
    """The rollup's metrics summed by ``dims`` in the database (no dims: one row of totals)."""
    qs = model.objects.filter(_scope_q(filters))
    sums = {m: Sum(m) for m in metrics}
    return list(qs.values(*dims).annotate(**sums).order_by()) if dims else [qs.aggregate(**sums)]


# the grain a page's figures read once and fold: totals, by day and by channel from (day, channel); top
# products and top categories from (variant, category)
SALES_GRAIN = ("day", "channel_id")
PRODUCT_GRAIN = ("variant_id", "category_id")


def _folded(read, filters: Filters, dims: tuple[str, ...], grain: tuple[str, ...], metrics: tuple[str, ...]):
    """``read(filters, dims)``, but within ``live_cache`` read once at ``grain`` (when ``dims`` is part
    of it) and summed in Python for each figure: one query for several figures of a page."""
    cache = _live_cache.get()
    if cache is None or not set(dims) <= set(grain):
        return read(filters, dims)
    key = (read.__name__, filters, grain)
    if key not in cache:
        cache[key] = read(filters, grain)
    return _merge(cache[key], [], dims, metrics)


def sales_rows(filters: Filters, dims: tuple[str, ...]) -> list[dict]:
    """``SalesDay`` metrics summed by ``dims`` (of day, channel_id, store_id) over the filters."""
    return _folded(_sales_rows, filters, dims, SALES_GRAIN, SALES_METRICS)


def product_rows(filters: Filters, dims: tuple[str, ...]) -> list[dict]:
    """``ProductDay`` metrics summed by ``dims`` (of day, channel_id, store_id, variant_id,
    category_id); ``cost`` stays None where no line had a known cost."""
    return _folded(_product_rows, filters, dims, PRODUCT_GRAIN, PRODUCT_METRICS)


def _sales_rows(filters: Filters, dims: tuple[str, ...]) -> list[dict]:
    """``SalesDay`` metrics summed by ``dims`` over the filters: rolled-up days from the rollup table
    (one grouped query), the others computed live."""
    rolled = _rolled(SalesDay, filters, dims, SALES_METRICS)
    live = [
        r for first, last in day_runs(live_days(filters)) for r in _scoped(_cached(sales_live, first, last), filters)
    ]
    rows = _merge(rolled, live, dims, SALES_METRICS)
    for row in rows:
        for m in SALES_METRICS:
            row[m] = (
                row[m] if row[m] is not None else (0 if m in ("orders", "member_orders", "units", "returns") else ZERO)
            )
    return rows


def _product_rows(filters: Filters, dims: tuple[str, ...]) -> list[dict]:
    """``ProductDay`` metrics summed by ``dims``. For every store together, the whole months of the
    period that are rolled up come from ``ProductMonth``."""
    live_set = live_days(filters)
    months = []
    if filters.store_ids is None and not {"day", "store_id"} & set(dims):
        months = [m for m in whole_months(filters.start, filters.end) if not any(m <= d < _next(m) for d in live_set)]
    rolled_q = _scope_q(filters)
    if months:  # the days around the whole months, as ranges the index on day can read
        days = [filters.start + timedelta(days=i) for i in range((filters.end - filters.start).days + 1)]
        rest = day_runs(d for d in days if d.replace(day=1) not in months)
        rolled_q &= Q(pk__in=[]) if not rest else reduce(or_, (Q(day__range=run) for run in rest))
    sums = {m: Sum(m) for m in PRODUCT_METRICS}
    rolled = list(ProductDay.objects.filter(rolled_q).values(*dims).annotate(**sums).order_by())
    if months:
        by_month = ProductMonth.objects.filter(ids_q("channel_id", filters.channel_ids), month__in=months)
        rolled += list(by_month.values(*dims).annotate(**sums).order_by())
    live = [r for first, last in day_runs(live_set) for r in _scoped(_cached(product_live, first, last), filters)]
    return _merge(rolled, live, dims, PRODUCT_METRICS)


def _next(day: date) -> date:
    """The 1st of the month after ``day``'s."""
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def whole_months(first: date, last: date) -> list[date]:
    """The 1st of each calendar month lying wholly within [first, last]."""
    month = first if first.day == 1 else _next(first)
    out = []
    while _next(month) - timedelta(days=1) <= last:
        out.append(month)
        month = _next(month)
    return out
