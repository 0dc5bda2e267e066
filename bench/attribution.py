"""Attribute and settle a month of 1,000,000 order lines for 50 stores and 500 clerks, set-based in SQL,
beside one hand-written SQL aggregate over the same rows, in the same run.

Set-up: 50 stores and 500 clerks through the services, the commission policy (latest binding wins, 3%,
no lock-up so the whole month settles in it) through the services, then with bulk SQL (the services
would take hours for this much): 200,000 members, 300,000 bindings of every source over the 90 days
before the month and during it, and 400,000 paid orders of last month (30% counter sales by a clerk, the
rest web and app, one in five without a member, one in fifty with a clerk's referral code) with
1,000,000 order lines over four categories.

Measured, one after the other:
  raw      the hand-written aggregate: each line's (clerk, store) by the same rules (counter sale ->
           its clerk; else the latest binding in force), summed per (clerk, store); writes nothing
  ours     ``orders_attribute_bulk`` for the month (claims every order and writes its attribution
           lines, one statement), then ``settlement_build`` of the month (one aggregate)
  rerun    ``settlement_build`` again with nothing changed
  rebuilt  ``settlement_build`` forced to aggregate again (its inputs marker cleared)
  parallel the lines and claims emptied, the month attributed again on ``BENCH_ATTRIBUTION_WORKERS``
           connections at once (default: the cores, at most 4; slices of time), then settled again
and checked: the draft's totals equal the raw aggregate's per (clerk, store), and every order is
attributed once.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from decimal import Decimal

STORES = 50
CLERKS_PER_STORE = 10
MEMBERS = 200_000
BINDINGS = 300_000
ORDERS = 400_000  # 1 + (n % 4) lines each: 1,000,000 lines
RATE = Decimal("0.03")


def _setup() -> dict:
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from attribution import services as attribution
    from attribution.models import Policy
    from omo.core import config_cache
    from omo.org import services as org
    from omo.org.models import Location, SalesChannel
    from omo.org.roles import Role
    from tests.factories import make_category, make_variant

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # 500 logins to make
    t = time.perf_counter()
    warehouse = org.location_create(code="WH-ATT", name="Bench warehouse", kind=Location.Kind.WAREHOUSE)
    stores = [
        org.location_create(
            code=f"S-A{i:02d}", name=f"Store {i}", kind=Location.Kind.STORE, supplying_warehouse=warehouse
        )
        for i in range(STORES)
    ]
    pos = SalesChannel.objects.create(code="POS", name="POS", kind=SalesChannel.Kind.POS)
    web = SalesChannel.objects.create(code="WEB", name="Web", kind=SalesChannel.Kind.WEB)
    app = SalesChannel.objects.create(code="APP", name="App", kind=SalesChannel.Kind.APP)
    variants = [
        make_variant(style_code=f"AT{i}", category=make_category(path)).pk
        for i, path in enumerate(["women/tops", "women/bottoms", "men/tops", "accessories"] * 5)
    ]
    clerks, clerk_stores = [], []
    for s, store in enumerate(stores):
        for c in range(CLERKS_PER_STORE):
            user = org.staff_create(
                username=f"att{s:02d}c{c}",
                password="bench-pass-2026",
                display_name=f"Clerk {s}-{c}",
                employee_code=f"AT{s:02d}-{c}",
                role=Role.CLERK,
                home_store=store,
            ).user
            clerks.append(user.pk)
            clerk_stores.append(store.pk)
    now = timezone.now()
    month = (timezone.localdate(now).replace(day=1) - timedelta(days=1)).replace(day=1)
    start = timezone.make_aware(timezone.datetime(month.year, month.month, 1))
    end = timezone.make_aware(timezone.datetime(*_next_month(month.year, month.month), 1))
    draft = attribution.policy_create(
        actor=None,
        name="Bench",
        validity_days={"pos_sale": 30, "qr_registration": 90, "referral_link": 7, "line_chat": 30, "hq_manual": 180},
        conflict="latest",
        default_rate=str(RATE),
        store_share="0.3",
        lockup_days=0,
    )
    policy = attribution.policy_adopt(actor=None, policy=draft)
    Policy.objects.filter(pk=policy.pk).update(effective_from=start - timedelta(days=120))
    config_cache.clear()
    setup_services = time.perf_counter() - t

    t = time.perf_counter()
    seconds = int((end - start).total_seconds())
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO members_member (member_no, name, status, referral_code, points_balance, created_at,
                                        updated_at, profile)
            SELECT 'B' || lpad(g::text, 9, '0'), 'Member ' || g, 'active', 'R' || lpad(g::text, 9, '0'), 0,
                   %s, %s, '{}'::jsonb
            FROM generate_series(1, %s) g
            """,
            [start - timedelta(days=400), start - timedelta(days=400), MEMBERS],
        )
        cursor.execute("SELECT min(id) FROM members_member WHERE member_no LIKE 'B%%'")
        first_member = cursor.fetchone()[0]
        cursor.execute(
            """
            INSERT INTO attribution_binding (member_id, clerk_id, store_id, source, started_at, counts, reference,
                                             note, created_at)
            SELECT %(m0)s + (g::bigint * 7919) %% %(members)s, c.clerk, c.store,
                   (ARRAY['pos_sale','qr_registration','referral_link','line_chat','hq_manual'])[1 + g %% 5],
                   %(from)s + ((g::bigint * 104729) %% %(span)s) * interval '1 second', TRUE, '', '', now()
            FROM generate_series(1, %(n)s) g
            JOIN LATERAL (SELECT (%(clerks)s::bigint[])[1 + g %% %(nclerks)s] AS clerk,
                                 (%(stores)s::bigint[])[1 + g %% %(nclerks)s] AS store) c ON TRUE
            """,
            {
                "m0": first_member,
                "members": MEMBERS,
                "from": start - timedelta(days=90),
                "span": seconds + 90 * 86400,
                "n": BINDINGS,
                "clerks": clerks,
                "stores": clerk_stores,
                "nclerks": len(clerks),
            },
        )
        cursor.execute(
            """
            INSERT INTO orders_order (number, channel_id, store_id, member_id, clerk_id, referral_code, fulfilment,
                                      status, currency, subtotal, discount_total, total, tax_total, tax_rate,
                                      points_redeemed, points_earned, coupon_code, paid_total, refunded_total,
                                      pickup_code, shipping_address, invoice, placed_at, paid_at, completed_at)
            SELECT 'BN-' || g,
                   CASE WHEN g %% 10 < 3 THEN %(pos)s WHEN g %% 10 < 8 THEN %(web)s ELSE %(app)s END,
                   CASE WHEN g %% 10 < 3 THEN (%(stores)s::bigint[])[1 + g %% %(nclerks)s] END,
                   CASE WHEN g %% 5 = 0 THEN NULL ELSE %(m0)s + (g * 31) %% %(members)s END,
                   CASE WHEN g %% 10 < 3 THEN (%(clerks)s::bigint[])[1 + g %% %(nclerks)s] END,
                   CASE WHEN g %% 50 = 7 THEN (SELECT referral_code FROM org_staffprofile
                                                WHERE user_id = (%(clerks)s::bigint[])[1 + (g / 50) %% %(nclerks)s])
                        ELSE '' END,
                   CASE WHEN g %% 10 < 3 THEN 'counter' ELSE 'ship' END, 'completed', 'TWD',
                   1000, 0, 1000, 48, 0.05, 0, 0, '', 1000, 0, '', '{}'::jsonb, '{}'::jsonb,
                   %(from)s + ((g::bigint * %(span)s) / %(n)s) * interval '1 second',
                   %(from)s + ((g::bigint * %(span)s) / %(n)s) * interval '1 second',
                   %(from)s + ((g::bigint * %(span)s) / %(n)s) * interval '1 second'
            FROM generate_series(1, %(n)s) g
            """,
            {
                "pos": pos.pk,
                "web": web.pk,
                "app": app.pk,
                "stores": clerk_stores,
                "clerks": clerks,
                "nclerks": len(clerks),
                "m0": first_member,
                "members": MEMBERS,
                "from": start,
                "span": seconds - 1,
                "n": ORDERS,
            },
        )
        cursor.execute(
            """
            INSERT INTO orders_orderline (order_id, variant_id, sku, name, quantity, list_price, unit_price, discount,
                                          net, tax, points_redeemed, fulfilled_quantity, returned_quantity,
                                          refunded_amount)
            SELECT o.id, (%(variants)s::bigint[])[1 + (o.id + k) %% %(nvariants)s], 'SKU', 'Item', 1,
                   390 + ((o.id + k) %% 7) * 100, 390 + ((o.id + k) %% 7) * 100, 0,
                   390 + ((o.id + k) %% 7) * 100, 19, 0, 1, 0, 0
            FROM orders_order o
            JOIN LATERAL generate_series(0, o.id %% 4) k ON TRUE
            WHERE o.number LIKE 'BN-%%'
            """,
            {"variants": variants, "nvariants": len(variants)},
        )
        cursor.execute("SELECT count(*) FROM orders_orderline")
        lines = cursor.fetchone()[0]
        cursor.execute("ANALYZE")
    return {
        "start": start,
        "end": end,
        "month": month,
        "lines": lines,
        "pos": pos.pk,
        "setup_services": setup_services,
        "setup_sql": time.perf_counter() - t,
    }


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


# the same rules by hand: a counter sale to its clerk, else the member's latest binding in force
LATEST_BINDING = """
LEFT JOIN LATERAL (
    SELECT b.clerk_id, b.store_id
    FROM attribution_binding b
    WHERE o.channel_id <> %(pos)s AND o.referral_code = '' AND b.member_id = o.member_id AND b.counts
      AND b.started_at <= o.paid_at
      AND o.paid_at < b.started_at + CASE b.source WHEN 'pos_sale' THEN interval '30 days'
                                                   WHEN 'qr_registration' THEN interval '90 days'
                                                   WHEN 'referral_link' THEN interval '7 days'
                                                   WHEN 'line_chat' THEN interval '30 days'
                                                   ELSE interval '180 days' END
    ORDER BY b.started_at DESC, b.id DESC
    LIMIT 1
) b ON TRUE
WHERE o.paid_at >= %(start)s AND o.paid_at < %(end)s AND o.referral_code = ''
  AND (o.clerk_id IS NOT NULL OR b.clerk_id IS NOT NULL)
"""

RAW = f"""
SELECT coalesce(o.clerk_id, b.clerk_id) AS clerk_id, coalesce(o.store_id, b.store_id) AS store_id,
       count(*), sum(l.net), sum(round(l.net * %(rate)s, 2))
FROM orders_order o
JOIN orders_orderline l ON l.order_id = o.id
{LATEST_BINDING}
GROUP BY 1, 2
"""


# the floor for writing: the raw rule set's rows written by hand into a copy of the lines table (same
# columns and indexes), one per order and credited (clerk, store) with its order lines' parts, as ours,
# so the cost of writing is seen apart from the cost of our rules
RAW_WRITE = f"""
INSERT INTO bench_lines (kind, order_id, clerk_id, store_id, policy_id, rule, share, base, rate, factor,
                         commission, store_amount, personal_amount, occurred_at, eligible_on, lines, created_at)
SELECT 'sale', id, clerk_id, store_id, %(policy)s, 'raw', 1, sum(net), %(rate)s, 1, sum(commission),
       round(sum(commission) * 0.3, 2), sum(commission) - round(sum(commission) * 0.3, 2), paid_at,
       paid_at::date, jsonb_agg(jsonb_build_array(line_id, net::text, %(rate)s::text, commission::text)), now()
FROM (
    SELECT o.id, o.paid_at, coalesce(o.clerk_id, b.clerk_id) AS clerk_id, coalesce(o.store_id, b.store_id) AS store_id,
           l.id AS line_id, l.net, round(l.net * %(rate)s, 2) AS commission
    FROM orders_order o
    JOIN orders_orderline l ON l.order_id = o.id
    {LATEST_BINDING}
) x
GROUP BY id, clerk_id, store_id, paid_at
"""


def _raw_on(n: int, params: dict) -> dict:
    """RAW on ``n`` connections at once, each a slice of the month; the (clerk, store) sums added up."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    step = (params["end"] - params["start"]) / n

    def one(k: int) -> list:
        try:
            with connection.cursor() as cursor:
                start = params["start"] + step * k
                cursor.execute(RAW, {**params, "start": start, "end": start + step if k < n - 1 else params["end"]})
                return cursor.fetchall()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        parts = list(pool.map(one, range(n)))
    sums: dict = {}
    for rows in parts:
        for clerk_id, store_id, count, total, commission in rows:
            before = sums.get((clerk_id, store_id), (0, 0, 0))
            sums[(clerk_id, store_id)] = (before[0] + count, before[1] + total, before[2] + commission)
    return sums


def run() -> dict:
    from django.db import connection

    from attribution.bulk import orders_attribute_bulk
    from attribution.models import AttributionLine, OrderAttribution, SettlementPeriod
    from attribution.settlement import settlement_build

    shop = _setup()
    params = {"rate": RATE, "pos": shop["pos"], "start": shop["start"], "end": shop["end"]}

    t = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(RAW, params)
        raw_rows = cursor.fetchall()
    raw = time.perf_counter() - t

    # the raw aggregate on as many connections as ours gets below (slices of time, summed after):
    # PostgreSQL runs it on one core even when parallel plans cost nothing, so this is its 2-core form
    workers = int(os.environ.get("BENCH_ATTRIBUTION_WORKERS") or min(os.cpu_count() or 1, 4))
    t = time.perf_counter()
    raw_split = _raw_on(workers, params)
    raw_parallel = time.perf_counter() - t
    raw_split_same = raw_split == {(r[0], r[1]): tuple(r[2:]) for r in raw_rows}

    from attribution.models import Policy

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_lines (LIKE attribution_attributionline INCLUDING ALL)")
        t = time.perf_counter()
        cursor.execute(RAW_WRITE, {**params, "policy": Policy.objects.get().pk})
        raw_written = cursor.rowcount
        raw_write = time.perf_counter() - t
        cursor.execute("DROP TABLE bench_lines")

    t = time.perf_counter()
    attributed = orders_attribute_bulk(paid_from=shop["start"], paid_to=shop["end"])
    attribute = time.perf_counter() - t
    t = time.perf_counter()
    period = settlement_build(month=shop["month"])
    settle = time.perf_counter() - t
    ours = attribute + settle

    t = time.perf_counter()
    again = settlement_build(month=shop["month"])
    rerun = time.perf_counter() - t
    SettlementPeriod.objects.filter(pk=period.pk).update(inputs="")
    t = time.perf_counter()
    forced = settlement_build(month=shop["month"])
    rebuilt = time.perf_counter() - t

    # the same month again on several connections at once (``attribute_orders --workers``): the lines
    # and claims emptied (TRUNCATE: the append-only guards are per row), attributed in slices of time,
    # then the draft built again; it must come out the same to the cent
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE attribution_attributionline, attribution_orderattribution")
        cursor.execute("CHECKPOINT")
    t = time.perf_counter()
    attributed_parallel = orders_attribute_bulk(paid_from=shop["start"], paid_to=shop["end"], workers=workers)
    attribute_parallel = time.perf_counter() - t
    SettlementPeriod.objects.filter(pk=period.pk).update(inputs="")
    t = time.perf_counter()
    parallel_period = settlement_build(month=shop["month"])
    settle_parallel = time.perf_counter() - t
    ours_parallel = attribute_parallel + settle_parallel

    # the same totals as the raw aggregate (its rule set: counter sales and latest bindings; the bench
    # has no leavers, exclusions or category rates; referral-code orders are left out of both)
    # (order lines, sum) per (clerk, store): our rows hold each credit's order lines in ``lines``
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT clerk_id, store_id, rule = 'referral_code', sum(jsonb_array_length(lines)), sum(base) "
            "FROM attribution_attributionline GROUP BY 1, 2, 3"
        )
        ours_rows = cursor.fetchall()
    draft = {(r.clerk_id, r.store_id): (0, r.base) for r in forced.totals.exclude(lines=0)}
    by_referral = {}
    for clerk_id, store_id, referral, n, total in ours_rows:
        if referral:
            by_referral[(clerk_id, store_id)] = (n, total)
    for clerk_id, store_id, _referral, n, _total in ours_rows:  # the draft's sums, and the order lines they hold
        key = (clerk_id, store_id)
        if key in draft:
            draft[key] = (draft[key][0] + n, draft[key][1])
    mismatches = 0
    for clerk_id, store_id, n, total, _commission in raw_rows:
        lines, base = draft.get((clerk_id, store_id), (0, Decimal(0)))
        extra = by_referral.get((clerk_id, store_id), (0, Decimal(0)))
        if (lines - extra[0], base - extra[1]) != (n, total):
            mismatches += 1
    orders_once = OrderAttribution.objects.count() == attributed

    print(
        f"\nAttribution and settlement of a month: {shop['lines']:,} order lines of {ORDERS:,} orders, "
        f"{STORES} stores, {STORES * CLERKS_PER_STORE} clerks, {MEMBERS:,} members, {BINDINGS:,} bindings "
        f"(set-up: services {shop['setup_services']:.1f} s, bulk SQL {shop['setup_sql']:.1f} s)"
    )
    print(f"\n{'step':<58} {'seconds':>9} {'ratio':>8}")
    print(f"{'raw: one hand-written SQL aggregate over the same rows':<58} {raw:>9.2f} {1:>8.2f}")
    print(
        f"{'raw write: the same rule set written by hand, INSERT … SELECT':<58} {raw_write:>9.2f} "
        f"{raw_write / raw:>8.2f}   ({raw_written:,} rows, the lines table's columns and indexes)"
    )
    print(
        f"{'ours: attribute (orders_attribute_bulk, writes the lines)':<58} {attribute:>9.2f} {attribute / raw:>8.2f}"
    )
    print(f"{'ours: settle (settlement_build, one aggregate)':<58} {settle:>9.2f} {settle / raw:>8.2f}")
    print(f"{'ours: attribute + settle':<58} {ours:>9.2f} {ours / raw:>8.2f}   goal <= 2.00")
    print(f"{'ours against the raw write':<58} {'':>9} {ours / raw_write:>8.2f}")
    label = f"ours, {workers} connections: attribute"
    print(f"{label:<58} {attribute_parallel:>9.2f} {attribute_parallel / raw:>8.2f}")
    print(
        f"{'ours, ' + str(workers) + ' connections: settle':<58} {settle_parallel:>9.2f} {settle_parallel / raw:>8.2f}"
    )
    print(
        f"{'ours, ' + str(workers) + ' connections: attribute + settle':<58} {ours_parallel:>9.2f} "
        f"{ours_parallel / raw:>8.2f}   goal <= 2.00"
    )
    label = f"raw on {workers} connections (slices of time, summed)"
    print(f"{label:<58} {raw_parallel:>9.2f} {raw_parallel / raw:>8.2f}   (same sums: {raw_split_same})")
    label = f"ours, {workers} connections, against the raw on {workers}"
    print(f"{label:<58} {'':>9} {ours_parallel / raw_parallel:>8.2f}")
    print(f"{'re-run of the unchanged draft':<58} {rerun:>9.3f} {rerun / ours:>8.4f}   (of ours; goal <= 0.1)")
    print(f"{'draft forced to aggregate again':<58} {rebuilt:>9.2f} {rebuilt / ours:>8.4f}   (of ours)")
    lines_written = AttributionLine.objects.count()
    print(
        f"\norders attributed: {attributed:,} (each once: {orders_once}); attribution lines written: "
        f"{lines_written:,} (one per order and credit); draft (clerk, store) rows: {forced.totals.count()}; "
        f"same fingerprint on every build: {period.fingerprint == again.fingerprint == forced.fingerprint}; "
        f"totals equal to the raw aggregate for every (clerk, store): {mismatches == 0} "
        f"({len(raw_rows)} rows, {mismatches} differ); "
        f"on {workers} connections: {attributed_parallel:,} orders, the same fingerprint: "
        f"{parallel_period.fingerprint == period.fingerprint}"
    )
    return {
        "raw": raw,
        "raw_write": raw_write,
        "attribute": attribute,
        "settle": settle,
        "rerun": rerun,
        "rebuilt": rebuilt,
        "raw_parallel": raw_parallel,
        "attribute_parallel": attribute_parallel,
        "settle_parallel": settle_parallel,
    }
