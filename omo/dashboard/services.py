"""The dashboard's writes: refreshing the daily rollups, and recording traffic (door counters, web and
app sessions) from the API, a CSV upload or the admin."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from dateutil.relativedelta import relativedelta
from django.db import connection, transaction
from django.db.models import Max, Min, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from omo.core.errors import ApplicationError
from omo.core.locks import advisory_lease, advisory_xact_lock
from omo.dashboard import rollups
from omo.dashboard.filters import day_start, months_between
from omo.dashboard.models import (
    ClerkDay,
    MemberSegmentMonth,
    ProductDay,
    ProductMonth,
    RolledUpDay,
    RolledUpMonth,
    RollupMark,
    SalesDay,
    TrafficCount,
)
from omo.org.access import ALL_STORES, store_ids_for
from omo.org.models import Location, SalesChannel

ROLLUP_WRITE_LOCK = "dashboard-rollup-write"
REDONE_DAYS = 2  # the last days before today are always refreshed again (commits landing after midnight)


def rollup_refresh(*, first: date, last: date) -> int:
    """Rebuilds the rollup rows of [first, last] (never today or later: today is always live), a month
    per transaction; returns the number of days refreshed. Running it again gives the same rows."""
    last = min(last, timezone.localdate() - timedelta(days=1))
    done = 0
    start = first
    while start <= last:
        end = min(last, start.replace(day=1) + relativedelta(months=1) - timedelta(days=1))  # to the month's end
        with transaction.atomic():
            # a rebuild by hand and the nightly job must not both delete (seeing nothing) and insert
            advisory_xact_lock(ROLLUP_WRITE_LOCK)
            SalesDay.objects.filter(day__range=(start, end)).delete()
            ProductDay.objects.filter(day__range=(start, end)).delete()
            ClerkDay.objects.filter(day__range=(start, end)).delete()
            SalesDay.objects.bulk_create([SalesDay(**row) for row in rollups.sales_live(start, end)], batch_size=2000)
            _insert_products(start, end)
            _insert_clerks(start, end)
            _product_months(start, end)
            now = timezone.now()
            days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
            RolledUpDay.objects.bulk_create(
                [RolledUpDay(day=d, refreshed_at=now) for d in days],
                update_conflicts=True,
                unique_fields=["day"],
                update_fields=["refreshed_at"],
            )
        done += len(days)
        start = end + timedelta(days=1)
    return done


def _insert_products(first: date, last: date) -> None:
    """``ProductDay`` rows of [first, last] by one INSERT … SELECT of ``rollups.product_live``'s query,
    so a year of order lines never passes through Python."""
    sql, params = rollups.product_query(first, last).query.sql_with_params()
    table = ProductDay._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (day, channel_id, store_id, variant_id, category_id, units, sales, cost) "  # noqa: S608 (the model's table and Django's own compiled query)
            f"SELECT q.day, q.ch, q.st, q.variant_id, q.cat, q.qty, ROUND(q.amount, 2), ROUND(q.cost_sum, 2) "
            f"FROM ({sql}) q",
            params,
        )


def _product_months(first: date, last: date) -> None:
    """Rebuilds ``ProductMonth`` for the months [first, last] touches, from their ``ProductDay`` rows."""
    for month in months_between(first, last):
        ProductMonth.objects.filter(month=month).delete()
        rows = (
            ProductDay.objects.filter(day__gte=month, day__lt=month + relativedelta(months=1))
            .values("channel_id", "variant_id", "category_id")
            .annotate(u=Sum("units"), s=Sum("sales"), c=Sum("cost"))
            .order_by()
        )
        sql, params = rows.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {ProductMonth._meta.db_table} "  # noqa: S608 (the model's table, Django's compiled query)
                "(month, channel_id, variant_id, category_id, units, sales, cost) "
                f"SELECT %s, q.channel_id, q.variant_id, q.category_id, q.u, q.s, q.c FROM ({sql}) q",
                [month, *params],
            )


def _insert_clerks(first: date, last: date) -> None:
    """``ClerkDay`` rows of [first, last] by one INSERT … SELECT of ``rollups.clerk_query``."""
    sql, params = rollups.clerk_query(first, last)
    columns = ", ".join(rollups.CLERK_DIMS + rollups.CLERK_METRICS)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {ClerkDay._meta.db_table} ({columns}) {sql}", params)


LINE_MARK = "attribution-line"


def _late_attribution_days(before: date) -> tuple[set[date], int]:
    """Days before ``before`` with attribution lines written since the last nightly run (an order
    attributed late: its sale lines are dated the day it was paid), and the highest line id now."""
    from attribution.models import AttributionLine

    top = AttributionLine.objects.aggregate(top=Max("id"))["top"] or 0
    mark = RollupMark.objects.filter(name=LINE_MARK).values_list("value", flat=True).first()
    if mark is None or mark >= top:
        return set(), top
    days = set(
        AttributionLine.objects.filter(id__gt=mark, id__lte=top, occurred_at__lt=day_start(before))
        .annotate(day=TruncDate("occurred_at"))
        .values_list("day", flat=True)
        .distinct()
    )  # the local days, one row each (a night's new lines can be hundreds of thousands)
    return days, top


def rollup_catch_up() -> int:
    """The nightly job: every day since the first paid order that is not rolled up yet, and the last
    ``REDONE_DAYS`` days again. One runner at a time; returns the days refreshed (0 if another runs)."""
    from orders.models import Order

    yesterday = timezone.localdate() - timedelta(days=1)
    with advisory_lease("dashboard-rollup") as got:
        if not got:
            return 0
        first_paid = Order.objects.filter(paid_at__isnull=False).aggregate(first=Min("paid_at"))["first"]
        if first_paid is None:
            return 0
        first = timezone.localdate(first_paid)
        done = set(RolledUpDay.objects.filter(day__gte=first).values_list("day", flat=True))
        redo_from = yesterday - timedelta(days=REDONE_DAYS - 1)
        late, top = _late_attribution_days(before=redo_from)
        missing = [
            first + timedelta(days=i)
            for i in range((yesterday - first).days + 1)
            if (first + timedelta(days=i)) not in done or first + timedelta(days=i) >= redo_from
        ]
        missing = sorted(set(missing) | {d for d in late if d in done})
        days = sum(rollup_refresh(first=a, last=b) for a, b in rollups.day_runs(missing))
        # lines up to ``top`` are in: a line written after this run started is looked at next time
        RollupMark.objects.update_or_create(name=LINE_MARK, defaults={"value": top})
        cover_refresh(yesterday)
        last_complete = timezone.localdate().replace(day=1) - relativedelta(months=1)
        months_done = set(RolledUpMonth.objects.values_list("month", flat=True))
        # months not rolled up yet, and the last two again (returns keep coming in after a month ends)
        redo_month = last_complete - relativedelta(months=1)
        rollup_refresh_months(
            [m for m in months_between(first, last_complete) if m not in months_done or m >= redo_month]
        )
        return days


def cover_refresh(as_of: date) -> int:
    """Rebuilds ``CoverSold`` for ``as_of`` (the nightly job: yesterday) from the sale movements, by one
    INSERT … SELECT of the days-of-cover query; older snapshots are dropped. Returns its rows."""
    from omo.dashboard.models import CoverSold
    from omo.dashboard.selectors.inventory import sold_sql

    sql, params = sold_sql(as_of, snapshot=False)
    with transaction.atomic():
        advisory_xact_lock(ROLLUP_WRITE_LOCK)
        CoverSold.objects.all().delete()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {CoverSold._meta.db_table} (as_of, variant_id, location_id, units) "  # noqa: S608 (the model's table)
                f"SELECT %s, q.variant_id, q.location_id, q.units FROM ({sql}) q WHERE q.units <> 0",
                [as_of, *params],
            )
            return cursor.rowcount


def rollup_refresh_months(months: list[date]) -> int:
    """Rebuilds ``MemberSegmentMonth`` for complete months: every store together, then each store's own
    members; a month per transaction."""
    from omo.dashboard.segments import segment_figures

    stores = list(Location.objects.filter(kind=Location.Kind.STORE).values_list("pk", flat=True))
    done = 0
    for month in months:
        if month.replace(day=1) + relativedelta(months=1) > timezone.localdate():
            continue  # not complete: computed live
        start, until = day_start(month), day_start(month + relativedelta(months=1))
        rows = []
        for store in [None, *stores]:
            figures = segment_figures(start, until, None if store is None else {store})
            rows += [
                MemberSegmentMonth(
                    month=month, store_id=store, segment=seg, members=f["members"], purchases=f["purchases"],
                    spend=f["spend"],
                )
                for seg, f in figures.items()
            ]  # fmt: skip
        with transaction.atomic():
            advisory_xact_lock(ROLLUP_WRITE_LOCK)
            MemberSegmentMonth.objects.filter(month=month).delete()
            MemberSegmentMonth.objects.bulk_create(rows, batch_size=2000)
            RolledUpMonth.objects.update_or_create(month=month, defaults={"refreshed_at": timezone.now()})
        done += 1
    return done


# --- traffic ----------------------------------------------------------------------------------------


def _clean_traffic(rows: list[dict], allowed) -> tuple[list[TrafficCount], dict]:
    """Each row: ``store`` (a store code) with ``hour`` 0-23, or ``channel`` (a web/app channel code)
    without; ``day`` (ISO date) and ``visits`` (a whole number >= 0). Problems by row number."""
    stores = {loc.code: loc for loc in Location.objects.filter(kind=Location.Kind.STORE)}
    channels = {
        ch.code: ch for ch in SalesChannel.objects.filter(kind__in=[SalesChannel.Kind.WEB, SalesChannel.Kind.APP])
    }
    out, problems = [], {}
    seen = set()
    for number, row in enumerate(rows, start=1):
        errors = []
        store_code = str(row.get("store") or "").strip()
        channel_code = str(row.get("channel") or "").strip()
        store = stores.get(store_code) if store_code else None
        channel = channels.get(channel_code) if channel_code else None
        if bool(store_code) == bool(channel_code):
            errors.append(_("Give a store or a web/app channel, not both."))
        elif store_code and store is None:
            errors.append(_("No store %(code)s.") % {"code": store_code})
        elif channel_code and channel is None:
            errors.append(_("No web or app channel %(code)s.") % {"code": channel_code})
        elif allowed is not ALL_STORES and (store is None or store.pk not in allowed):
            errors.append(_("Only your own store's counts may be recorded."))
        try:
            day = date.fromisoformat(str(row.get("day") or "").strip())
            if day > timezone.localdate():
                errors.append(_("The day is in the future."))
        except ValueError:
            day = None
            errors.append(_("The day must look like 2026-01-31."))
        hour = row.get("hour")
        hour = None if hour in (None, "") else hour
        if store_code:
            try:
                hour = int(hour)
                if not 0 <= hour <= 23:
                    raise ValueError
            except (TypeError, ValueError):
                errors.append(_("A store's count needs an hour from 0 to 23."))
        elif hour is not None:
            errors.append(_("Web and app sessions are counted per day, without an hour."))
        try:
            visits = int(str(row.get("visits")).strip())
            if visits < 0:
                raise ValueError
        except (TypeError, ValueError):
            errors.append(_("Visitors must be a whole number, 0 or more."))
            visits = None
        key = (store_code, channel_code, str(day), hour)
        if not errors and key in seen:
            errors.append(_("The same store and hour (or channel and day) is given twice."))
        seen.add(key)
        if errors:
            problems[str(number)] = " ".join(errors)
        else:
            out.append(TrafficCount(store=store, channel=channel, day=day, hour=hour if store else None, visits=visits))
    return out, problems


@transaction.atomic
def traffic_record(*, rows: list[dict], source: str, actor) -> dict:
    """Records traffic counts, replacing what was recorded for the same store and hour (or channel and
    day); all rows or none (400 ``invalid_traffic`` with the problems by row number)."""
    if not rows:
        raise ApplicationError(_("No traffic rows were given."), code="invalid_traffic")
    if len(rows) > 50_000:
        raise ApplicationError(_("At most 50,000 rows at once."), code="invalid_traffic")
    counts, problems = _clean_traffic(rows, store_ids_for(actor) if actor is not None else ALL_STORES)
    if problems:
        raise ApplicationError(_("Some traffic rows are not valid."), code="invalid_traffic", details=problems)
    created = updated = 0
    store_rows = [c for c in counts if c.store_id]
    channel_rows = [c for c in counts if c.channel_id]
    for c in counts:
        c.source, c.updated_by = source, actor
    for group, unique in ((store_rows, ["store", "day", "hour"]), (channel_rows, ["channel", "day"])):
        if not group:
            continue
        existing = _existing_keys(group, unique)
        created += sum(1 for c in group if _key(c, unique) not in existing)
        updated += sum(1 for c in group if _key(c, unique) in existing)
        TrafficCount.objects.bulk_create(
            group, batch_size=2000, update_conflicts=True, unique_fields=unique,
            update_fields=["visits", "source", "updated_by", "updated_at"],
        )  # fmt: skip
    return {"rows": len(counts), "created": created, "updated": updated}


def _key(count: TrafficCount, unique: list[str]) -> tuple:
    return tuple(getattr(count, f"{f}_id" if f in ("store", "channel") else f) for f in unique)


def _existing_keys(group: list[TrafficCount], unique: list[str]) -> set[tuple]:
    field = unique[0]
    qs = TrafficCount.objects.filter(
        **{f"{field}_id__in": {getattr(c, f"{field}_id") for c in group}, "day__in": {c.day for c in group}}
    )
    names = [f"{f}_id" if f in ("store", "channel") else f for f in unique]
    return set(qs.values_list(*names))


TRAFFIC_COLUMNS = ("store", "channel", "day", "hour", "visits")


def traffic_import_csv(*, data: bytes, actor) -> dict:
    """A CSV with the header ``store,channel,day,hour,visits`` (UTF-8, with or without a BOM; a column
    may be left out when unused), recorded by ``traffic_record``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApplicationError(_("The file is not UTF-8 text."), code="invalid_traffic") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    unknown = [h for h in header if h not in TRAFFIC_COLUMNS]
    if not header or unknown or "day" not in header or "visits" not in header:
        raise ApplicationError(
            _("The first line must name the columns: store, channel, day, hour, visits."),
            code="invalid_traffic",
            details={"columns": header, "unknown": unknown},
        )
    rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    return traffic_record(rows=rows, source=TrafficCount.Source.CSV, actor=actor)
