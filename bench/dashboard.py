"""The HQ dashboard on a year of 1,000,000 orders and 100,000 members: the rollup job's time, and each
dashboard page's server time (goal: p95 under 300 ms) beside one hand-written SQL aggregate over the
same orders, measured in the same run.

Set-up: 50 stores and 2 warehouses, the channels POS, WEB, APP and SHOPEE (a marketplace), 8 clerks a
store and an HQ admin through the services; then with bulk SQL (``INSERT … SELECT generate_series``;
the services would take days for this much), deterministic (hashes of the row number, no random()):

- 500 products x 4 sizes = 2,000 variants in 30 categories, priced NT$290-1,240 on every channel, a
  moving-average cost (SkuCost) for 90% of them, 10 products tracked by lot (two lots each, one expiring
  within two weeks);
- 100,000 members (a third registered during the year; half registered at a store's POS by a clerk,
  the rest on the web or the app), each of a kind that buys in stores only, online only or both;
- 1,000,000 paid orders over the last 365 days (today's up to now), more at weekends and in December,
  10:00-22:00: 60% POS counter sales at a store by one of its clerks (3% of them endless aisle,
  shipped or picked up), 22% web, 12% app, 6% marketplace; online orders shipped (15% of them from a
  store) or, for web and app, 30% picked up at a store; 40% with a member; 1-4 lines each (2.5 on
  average: 2,500,000 lines), 15% of lines with 10% off; 1/8 of the member orders with a coupon;
- for each order its fulfilment (counter, shipment with its lines, pickup), for each member order its
  purchase record (members_purchase), points earned (entry and lot; every third order of a member
  redeems the points of the one before) and the member's balance;
- 3% of the orders returned (their first line, 1-14 days later, never after now), with the return
  line and a refund; 40% of the online ones brought back to a store;
- 75,000 coupons collected in wallets (online or at a store), 50,000 of them redeemed on an order;
- stock levels for every variant at every location (8% of store levels at zero), the sale movements
  of the last 90 days (each line from where its order was fulfilled) after an opening receipt so the
  ledger adds up to on hand, lots, 150 transfers in transit and 3,000 received;
- traffic: every store's door counter for every hour 10-21 of the year, web and app sessions per day;
- attribution: a commission policy, bindings of a third of the members to a clerk, the whole year
  attributed (``orders_attribute_bulk``) and last month's and this month's settlement drafts.
``ANALYZE`` after.

Measured, one after the other:
  baseline  the hand-written aggregate: ``SELECT local day, channel, store, count(*), sum(total) FROM
            orders_order … GROUP BY 1, 2, 3`` over the default 30 days (median of 20 runs)
  rollup    ``rollup_refresh`` of the whole year; ``rollup_catch_up`` the first time (it adds the monthly
            member segments) and again on an up-to-date rollup (the nightly run)
  pages     each page of ``omo.dashboard.pages.PAGES`` through Django's test client (the whole
            middleware, view and template; logged in as HQ; one database connection kept open),
            with the default filters (last 30 days, previous period), one store, and for sales and
            members the last 365 days: 2 warm-ups then 20 runs, p50/p95/max, the SQL statements of
            one run, and the page built alone (the selector, without the template)
A page whose module does not exist yet or raises is printed as not available, and the run goes on.

Smaller while developing: ``BENCH_DASHBOARD_ORDERS=100000`` (members: a tenth of the orders unless
``BENCH_DASHBOARD_MEMBERS``), ``BENCH_DASHBOARD_RUNS=5``, ``BENCH_DASHBOARD_PAGES=clerks,inventory`` (only
those pages), ``BENCH_KEEP_DATABASE=1`` (measure again on the data of an earlier run the same day).
"""

from __future__ import annotations

import math
import os
import re
import statistics
import time
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

ORDERS = int(os.environ.get("BENCH_DASHBOARD_ORDERS", "1000000"))
MEMBERS = int(os.environ.get("BENCH_DASHBOARD_MEMBERS", str(max(1000, ORDERS // 10)))) // 10 * 10  # a multiple of 10
RUNS = int(os.environ.get("BENCH_DASHBOARD_RUNS", "20"))
VERBOSE = bool(os.environ.get("BENCH_DASHBOARD_VERBOSE"))  # print each set-up statement's time
WARMUPS = 2
BUILD_RUNS = 5
DAYS = 365
STORES = 50
CLERKS_PER_STORE = 8
PRODUCTS = 500
SIZES = ("S", "M", "L", "XL")
CATEGORIES = [
    f"{root}/{leaf}"
    for root, leaves in (
        ("women", ("tops", "shirts", "knits", "dresses", "skirts", "trousers", "jeans", "outerwear")),
        ("men", ("tees", "shirts", "knits", "trousers", "jeans", "outerwear", "suits")),
        ("kids", ("tops", "bottoms", "dresses", "outerwear", "baby")),
        ("accessories", ("bags", "hats", "scarves", "belts", "socks")),
        ("home", ("bedding", "towels", "kitchen", "fragrance", "snacks")),
    )
    for leaf in leaves
]  # 30 leaves
ATTRIBUTED_DAYS = DAYS  # attribution lines for the whole year: the clerks page scans them by date
MOVEMENT_DAYS = 90  # stock movements of sales: the last 90 days (the inventory page reads the last 28)
GOAL_MS = 300.0
TRANSFERS_IN_TRANSIT = 150
TRANSFERS_RECEIVED = 3000


def U(seed: str) -> str:
    """SQL for a uniform number in [0, 1) from an integer expression (a hash: the same every run)."""
    return f"((hashint8(({seed})::bigint) & 2147483647)::float8 / 2147483648.0)"


@contextmanager
def _step(steps: list, name: str):
    t = time.perf_counter()
    yield
    steps.append((name, time.perf_counter() - t))


def _scalar(sql: str, params=None):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _run(sql: str, params=None) -> int:
    from django.db import connection

    t = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if VERBOSE:
            print(f"  {time.perf_counter() - t:7.1f} s  {' '.join(sql.split())[:100]}", flush=True)
        return cursor.rowcount


@contextmanager
def _bulk_load(*tables: str):
    """The tables' plain indexes dropped while they are filled and built again after (the same
    definitions; constraints such as primary keys and unique columns stay): a bulk load's usual way,
    about twice as fast as keeping 20 indexes of orders_order up to date row by row."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
            """,
            [list(tables)],
        )
        indexes = cursor.fetchall()
    for name, _definition in indexes:
        _run(f'DROP INDEX "{name}"')
    try:
        yield
    finally:
        _run("SET maintenance_work_mem = '256MB'")
        for _name, definition in indexes:
            _run(definition)
        _run("RESET maintenance_work_mem")


# --- set-up -----------------------------------------------------------------------------------------


def _setup_services() -> dict:
    """Locations, channels, clerks, the HQ user and the category tree, through the services."""
    from catalog.services import category_ensure_path
    from omo.org import services as org
    from omo.org.models import Location, SalesChannel
    from omo.org.roles import Role

    warehouses = [
        org.location_create(code=f"W-D{i}", name=f"Bench warehouse {i}", kind=Location.Kind.WAREHOUSE) for i in (1, 2)
    ]
    stores = [
        org.location_create(
            code=f"S-D{i:02d}",
            name=f"Store {i}",
            kind=Location.Kind.STORE,
            city="台北市" if i % 3 == 0 else "台中市",
            supplying_warehouse=warehouses[i % 2],
        )
        for i in range(1, STORES + 1)
    ]
    channels = {
        code: SalesChannel.objects.create(code=code, name=name, kind=kind).pk
        for code, name, kind in (
            ("POS", "Store POS", SalesChannel.Kind.POS),
            ("WEB", "Web shop", SalesChannel.Kind.WEB),
            ("APP", "App", SalesChannel.Kind.APP),
            ("SHOPEE", "Shopee", SalesChannel.Kind.MARKETPLACE),
        )
    }
    clerks = []
    for s, store in enumerate(stores, start=1):
        for c in range(1, CLERKS_PER_STORE + 1):
            profile = org.staff_create(
                username=f"dash{s:02d}c{c}",
                password=None,
                display_name=f"Clerk {s}-{c}",
                employee_code=f"DB{s:02d}-{c}",
                role=Role.STORE_MANAGER if c == 1 else Role.CLERK,
                home_store=store,
            )
            clerks.append(profile.user_id)
    hq = org.staff_create(
        username="dash-hq", password=None, display_name="HQ", employee_code="DB-HQ", role=Role.HQ_ADMIN
    ).user
    categories = [category_ensure_path(path=path).pk for path in CATEGORIES]
    return {
        "warehouses": [w.pk for w in warehouses],
        "stores": [s.pk for s in stores],
        "store_codes": [s.code for s in stores],
        "channels": channels,
        "clerks": clerks,
        "hq": hq,
        "categories": categories,
    }


def _setup_catalog(shop: dict) -> None:
    """Products, variants, channel prices and costs; the temp table ``bench_variants`` (idx 1..n in a
    hashed order, so popularity does not follow the product number)."""
    _run(
        """
        INSERT INTO catalog_product (style_code, name, description, category_id, status, tracks_lots, created_at,
                                     updated_at)
        SELECT 'BD' || lpad(p::text, 5, '0'), 'Bench product ' || p, '', (%(cats)s::bigint[])[1 + mod(p, %(ncats)s)],
               'active', mod(p, 50) = 0, now(), now()
        FROM generate_series(1, %(products)s) p
        """,
        {"cats": shop["categories"], "ncats": len(shop["categories"]), "products": PRODUCTS},
    )
    _run(
        """
        INSERT INTO catalog_variant (product_id, sku, barcode, color, size, attributes, position, is_active, created_at)
        SELECT p.id, p.style_code || '-' || s.size, NULL, '', s.size, '{}'::jsonb, s.pos, TRUE, now()
        FROM catalog_product p
        CROSS JOIN unnest(%(sizes)s::text[]) WITH ORDINALITY AS s(size, pos)
        WHERE p.style_code LIKE 'BD%%'
        """,
        {"sizes": list(SIZES)},
    )
    _run(
        f"""
        CREATE TEMP TABLE bench_variants AS
        SELECT row_number() OVER (ORDER BY hashint8(v.id), v.id)::int AS idx, v.id, v.sku, p.name, p.tracks_lots,
               (290 + mod(substr(p.style_code, 3)::int * 37, 20) * 50)::numeric(14, 2) AS price,
               {U("v.id * 64 + 1")} AS u_cost
        FROM catalog_variant v JOIN catalog_product p ON p.id = v.product_id
        """
    )
    _run("CREATE UNIQUE INDEX ON bench_variants (idx)")
    _run(
        """
        INSERT INTO catalog_variantprice (variant_id, channel_id, price, sale_price, sale_starts_at, sale_ends_at,
                                          updated_at)
        SELECT v.id, c, v.price, NULL, NULL, NULL, now()
        FROM bench_variants v CROSS JOIN unnest(%(channels)s::bigint[]) c
        """,
        {"channels": list(shop["channels"].values())},
    )
    _run(
        """
        INSERT INTO inventory_skucost (variant_id, average_cost, updated_at)
        SELECT id, round(price * (0.35 + u_cost * 0.2)::numeric, 4), now() FROM bench_variants WHERE u_cost < 0.9
        """
    )


def _setup_members(shop: dict, start) -> None:
    """Members 1..MEMBERS: kind = (id - 1) mod 10: 0-2 buy in stores only, 3-5 online only, 6-9 both;
    0, 1, 2, 6, 7 registered at a store's POS by a clerk, 3, 4, 5, 8 on the web, 9 on the app."""
    _run(
        """
        INSERT INTO members_member (id, member_no, name, phone, email, birthday, status, referral_code, points_balance,
                                    created_at, updated_at, registered_channel_id, registered_store_id,
                                    registered_by_id, profile)
        SELECT i, 'D' || lpad(i::text, 9, '0'), 'Member ' || i, '+8869' || lpad(i::text, 8, '0'), NULL, NULL, 'active',
               'D' || lpad(i::text, 9, '0'), 0, j.at, j.at,
               CASE WHEN t IN (0, 1, 2, 6, 7) THEN %(pos)s WHEN t = 9 THEN %(app)s ELSE %(web)s END,
               CASE WHEN t IN (0, 1, 2, 6, 7) THEN (%(stores)s::bigint[])[1 + mod((i - 1) * 7, %(nstores)s)] END,
               CASE WHEN t IN (0, 1, 2, 6, 7)
                    THEN (%(clerks)s::bigint[])[mod((i - 1) * 7, %(nstores)s) * %(cps)s + 1 + mod(i, %(cps)s)] END,
               '{}'::jsonb
        FROM generate_series(1, %(members)s) i
        CROSS JOIN LATERAL (SELECT mod(i - 1, 10) AS t) k
        CROSS JOIN LATERAL (
            -- the first members joined three years ago, the last third during the year
            SELECT %(old)s::timestamptz
                   + ((i - 1)::float8 / %(members)s) * (%(now)s::timestamptz - %(old)s::timestamptz) AS at
        ) j
        """,
        {
            "pos": shop["channels"]["POS"],
            "web": shop["channels"]["WEB"],
            "app": shop["channels"]["APP"],
            "stores": shop["stores"],
            "nstores": STORES,
            "clerks": shop["clerks"],
            "cps": CLERKS_PER_STORE,
            "members": MEMBERS,
            "old": start - timedelta(days=730),
            "now": shop["now"],
        },
    )


def _setup_orders(shop: dict, start, first) -> None:
    """The plan of every order and line in two temp tables, then the orders, lines, fulfilments and
    purchases from them (explicit ids: order g has id g, its line k id 4g + k)."""
    params = {
        "first": first,
        "start": start,
        "days": DAYS,
        "orders": ORDERS,
        "now": shop["now"],
        "members": MEMBERS,
        "stores": shop["stores"],
        "nstores": STORES,
        "clerks": shop["clerks"],
        "cps": CLERKS_PER_STORE,
        "warehouses": shop["warehouses"],
        "pos": shop["channels"]["POS"],
        "web": shop["channels"]["WEB"],
        "app": shop["channels"]["APP"],
        "mkt": shop["channels"]["SHOPEE"],
        "nv": len(SIZES) * PRODUCTS,
    }
    # orders per day: weekends 1.6x, a seasonal swing peaking in mid-December
    _run(
        """
        CREATE TEMP TABLE bench_days AS
        WITH w AS (
            SELECT i, (CASE WHEN extract(isodow FROM %(first)s::date + i) >= 6 THEN 1.6 ELSE 1.0 END)
                      * (1 + 0.2 * cos(2 * pi() * (extract(doy FROM %(first)s::date + i) - 350) / 365.0)) AS w
            FROM generate_series(0, %(days)s - 1) i
        ), n AS (SELECT i, round(%(orders)s * w / sum(w) OVER ())::int AS n FROM w)
        SELECT i, n, (sum(n) OVER (ORDER BY i) - n)::bigint AS off,
               %(start)s::timestamptz + i * interval '1 day' AS since
        FROM n
        """,
        params,
    )
    _run(
        f"""
        CREATE TEMP TABLE bench_orders AS
        WITH base AS (
            -- 10:00-22:00, busier towards the evening
            SELECT d.off + k AS g,
                   d.since + (36000 + floor(43200 * power((k - 0.5) / d.n, 0.85))) * interval '1 second' AS paid_at
            FROM bench_days d CROSS JOIN LATERAL generate_series(1, d.n) k
        ), r AS (
            SELECT g, paid_at, {U("g * 64 + 1")} AS u_kind, {U("g * 64 + 2")} AS u_store, {U("g * 64 + 3")} AS u_clerk,
                   {U("g * 64 + 4")} AS u_ful, {U("g * 64 + 5")} AS u_member, {U("g * 64 + 6")} AS u_who,
                   {U("g * 64 + 7")} AS u_lines, {U("g * 64 + 8")} AS u_coupon, {U("g * 64 + 9")} AS u_ret,
                   {U("g * 64 + 10")} AS u_ret_days, {U("g * 64 + 11")} AS u_ret_where, {U("g * 64 + 12")} AS u_loc,
                   {U("g * 64 + 13")} AS u_home
            FROM base WHERE paid_at < %(now)s
        ), k AS (
            SELECT *, CASE WHEN u_kind < 0.60 THEN 'pos' WHEN u_kind < 0.82 THEN 'web'
                           WHEN u_kind < 0.94 THEN 'app' ELSE 'mkt' END AS kind,
                      1 + floor({STORES} * power(u_store, 1.3))::int AS s0
            FROM r
        ), m AS (
            -- a member of a kind that buys in this channel; a few buy often (skewed to low numbers)
            SELECT *, CASE WHEN u_member < (CASE WHEN kind = 'pos' THEN 0.35 ELSE 0.475 END) THEN
                        1 + mod((q / 7) * 10 + (CASE WHEN kind = 'pos' THEN ARRAY[0, 1, 2, 6, 7, 8, 9]
                                                     ELSE ARRAY[3, 4, 5, 6, 7, 8, 9] END)[1 + mod(q, 7)], %(members)s)
                      END AS member_id
            FROM k CROSS JOIN LATERAL (SELECT floor(%(members)s * 0.7 * power(u_who, 1.7))::bigint AS q) qq
        ), s AS (
            -- a member registered at a store buys there 70%% of the time at the POS
            SELECT *, CASE WHEN kind = 'pos' AND member_id IS NOT NULL AND mod(member_id - 1, 10) IN (0, 1, 2, 6, 7)
                                AND u_home < 0.7
                           THEN 1 + mod((member_id - 1) * 7, {STORES})::int ELSE s0 END AS si
            FROM m
        ), f AS (
            SELECT *, CASE WHEN kind = 'pos' THEN (CASE WHEN u_ful < 0.985 THEN 'counter'
                                                        WHEN u_ful < 0.9925 THEN 'ship' ELSE 'pickup' END)
                           WHEN kind IN ('web', 'app') AND u_ful < 0.3 THEN 'pickup' ELSE 'ship' END AS fulfilment
            FROM s
        )
        SELECT g, paid_at, kind, member_id, u_ret_days, u_ret_where, si, fulfilment,
               CASE kind WHEN 'pos' THEN %(pos)s WHEN 'web' THEN %(web)s WHEN 'app' THEN %(app)s ELSE %(mkt)s END
                   AS channel_id,
               CASE WHEN kind = 'pos' OR fulfilment = 'pickup' THEN (%(stores)s::bigint[])[si] END AS store_id,
               -- where the goods leave from: the store (counter, pickup, 15%% of online shipments), else a warehouse
               CASE WHEN fulfilment IN ('counter', 'pickup') THEN (%(stores)s::bigint[])[si]
                    WHEN kind <> 'pos' AND u_loc < 0.15 THEN (%(stores)s::bigint[])[si]
                    ELSE (%(warehouses)s::bigint[])[1 + mod(g, 2)::int] END AS ship_from,
               CASE WHEN kind = 'mkt' THEN 60 ELSE 0 END::numeric(14, 2) AS shipping_fee,
               CASE WHEN kind = 'pos'
                    THEN (%(clerks)s::bigint[])[(si - 1) * %(cps)s + 1 + floor(u_clerk * %(cps)s)::int] END AS clerk_id,
               1 + floor(u_lines * 4)::int AS nlines,
               member_id IS NOT NULL AND u_coupon < 0.125 AS coupon,
               u_ret < 0.03 AND paid_at + (1 + floor(u_ret_days * 14)) * interval '1 day' < %(now)s AS ret
        FROM f
        """,
        params,
    )
    _run("CREATE UNIQUE INDEX ON bench_orders (g); ANALYZE bench_orders")
    _run(
        f"""
        CREATE TEMP TABLE bench_lines AS
        WITH l AS (
            SELECT o.g, k, 1 + floor(%(nv)s * power({U("o.g * 1024 + k * 64 + 1")}, 1.6))::int AS vidx,
                   CASE WHEN {U("o.g * 1024 + k * 64 + 2")} < 0.85 THEN 1 ELSE 2 END AS qty,
                   {U("o.g * 1024 + k * 64 + 3")} < 0.15 AS off
            FROM bench_orders o CROSS JOIN LATERAL generate_series(1, o.nlines) k
        ), p AS (
            SELECT l.g, l.k, v.id AS variant_id, v.sku, v.name, l.qty, v.price,
                   CASE WHEN l.off THEN round(l.qty * v.price * 0.1, 2) ELSE 0 END AS discount
            FROM l JOIN bench_variants v ON v.idx = l.vidx
        )
        SELECT *, qty * price - discount AS net, round((qty * price - discount) * 5 / 105, 2) AS tax FROM p
        """,
        params,
    )
    _run("CREATE INDEX ON bench_lines (g); ANALYZE bench_lines")
    # each order's totals; a member earns a point per NT$100 and on every third order redeems the points of
    # the order before (so no balance ever goes below zero)
    _run(
        """
        CREATE TEMP TABLE bench_totals AS
        WITH t AS (
            SELECT g, sum(qty * price) AS subtotal, sum(discount) AS discount, sum(net) AS net, sum(tax) AS tax,
                   sum(net) FILTER (WHERE k = 1) AS first_net
            FROM bench_lines GROUP BY g
        ), e AS (
            SELECT t.*, o.member_id, o.paid_at,
                   CASE WHEN o.member_id IS NULL THEN 0 ELSE floor(t.net / 100)::int END AS points_earned
            FROM t JOIN bench_orders o USING (g)
        ), r AS (
            SELECT *, row_number() OVER (PARTITION BY member_id ORDER BY paid_at, g) AS nth,
                   lag(points_earned) OVER (PARTITION BY member_id ORDER BY paid_at, g) AS earned_before
            FROM e
        )
        SELECT g, subtotal, discount, net, tax, first_net, points_earned,
               CASE WHEN member_id IS NOT NULL AND mod(nth, 3) = 0 THEN coalesce(earned_before, 0) ELSE 0 END
                   AS points_redeemed
        FROM r
        """
    )
    _run("CREATE UNIQUE INDEX ON bench_totals (g); ANALYZE bench_totals")
    _run(
        """
        INSERT INTO orders_order (id, number, channel_id, store_id, member_id, clerk_id, referral_code, fulfilment,
                                  status, currency, subtotal, discount_total, total, tax_total, tax_rate, shipping_fee,
                                  points_redeemed, points_earned, coupon_code, paid_total, refunded_total, pickup_code,
                                  shipping_address, invoice, idempotency_key, created_by_id, placed_at, paid_at,
                                  ready_at, completed_at)
        SELECT o.g, 'D-' || o.g, o.channel_id, o.store_id, o.member_id, o.clerk_id, '', o.fulfilment,
               CASE WHEN NOT o.ret THEN 'completed' WHEN o.nlines = 1 THEN 'returned' ELSE 'partially_returned' END,
               'TWD', l.subtotal, l.discount, l.net + o.shipping_fee, l.tax, 0.05, o.shipping_fee,
               l.points_redeemed, l.points_earned,
               CASE WHEN o.coupon THEN 'BC' || o.g ELSE '' END, l.net + o.shipping_fee,
               CASE WHEN o.ret THEN l.first_net ELSE 0 END,
               CASE WHEN o.fulfilment = 'pickup' THEN lpad(mod(o.g * 7919, 1000000)::text, 6, '0') ELSE '' END,
               CASE WHEN o.fulfilment = 'ship' THEN '{"city": "台北市"}'::jsonb ELSE '{}'::jsonb END, '{}'::jsonb,
               NULL, o.clerk_id, o.paid_at - interval '3 minutes', o.paid_at,
               CASE WHEN o.fulfilment = 'pickup' THEN least(o.paid_at + interval '1 day', %(now)s) END,
               CASE WHEN o.fulfilment = 'counter' THEN o.paid_at
                    ELSE least(o.paid_at + interval '2 days', %(now)s) END
        FROM bench_orders o JOIN bench_totals l USING (g)
        """,
        params,
    )
    _run(
        """
        INSERT INTO orders_orderline (id, order_id, variant_id, sku, name, quantity, list_price, unit_price, discount,
                                      net, tax, points_redeemed, fulfilled_quantity, returned_quantity, refunded_amount)
        SELECT l.g * 4 + l.k, l.g, l.variant_id, l.sku, l.name, l.qty, l.price, l.price, l.discount, l.net, l.tax, 0,
               l.qty, CASE WHEN o.ret AND l.k = 1 THEN l.qty ELSE 0 END,
               CASE WHEN o.ret AND l.k = 1 THEN l.net ELSE 0 END
        FROM bench_lines l JOIN bench_orders o USING (g)
        """
    )


def _setup_fulfilments() -> None:
    """One fulfilment per order (the counter hand-over, the shipment, the pickup) and the lines of the
    shipments (what the flows page counts)."""
    _run(
        """
        INSERT INTO orders_fulfilment (id, order_id, kind, location_id, tracking, idempotency_key, by_id, at, units)
        SELECT g, g, CASE fulfilment WHEN 'counter' THEN 'counter' WHEN 'ship' THEN 'shipment' ELSE 'pickup' END,
               ship_from, CASE WHEN fulfilment = 'ship' THEN 'TW' || g ELSE '' END, NULL, clerk_id,
               CASE fulfilment WHEN 'counter' THEN paid_at WHEN 'ship' THEN least(paid_at + interval '1 day', %(now)s)
                    ELSE least(paid_at + interval '2 days', %(now)s) END,
               CASE WHEN fulfilment = 'ship' THEN coalesce(u.qty, 0) ELSE 0 END
        FROM bench_orders o LEFT JOIN (SELECT g, sum(qty) AS qty FROM bench_lines GROUP BY g) u USING (g)
        """,
        {"now": _now()},
    )
    _run(
        """
        INSERT INTO orders_fulfilmentline (fulfilment_id, line_id, quantity, lots)
        SELECT l.g, l.g * 4 + l.k, l.qty, '[]'::jsonb
        FROM bench_lines l JOIN bench_orders o USING (g) WHERE o.fulfilment = 'ship'
        """
    )


def _setup_points() -> None:
    """Each member order's points (entries with the running balance, a lot per earning order) and the
    members' balances."""
    _run(
        """
        INSERT INTO members_pointsentry (member_id, kind, points, balance_after, reference, reason, created_by_id,
                                         created_at)
        SELECT member_id, kind, points,
               sum(points) OVER (PARTITION BY member_id ORDER BY paid_at, id, kind DESC), number, '', NULL, paid_at
        FROM (
            SELECT member_id, 'redeem' AS kind, -points_redeemed AS points, paid_at, id, number
            FROM orders_order WHERE member_id IS NOT NULL AND points_redeemed > 0
            UNION ALL
            SELECT member_id, 'earn', points_earned, paid_at, id, number
            FROM orders_order WHERE member_id IS NOT NULL AND points_earned > 0
        ) e
        """
    )
    # a lot per earning order; the lots a later order redeemed are used up
    _run(
        """
        INSERT INTO members_pointslot (member_id, earned, remaining, expires_on, reference, created_at)
        SELECT member_id, points_earned, CASE WHEN used > 0 THEN 0 ELSE points_earned END,
               make_date(extract(year FROM paid_at AT TIME ZONE %(tz)s)::int + 1, 12, 31), number, paid_at
        FROM (
            SELECT member_id, points_earned, paid_at, number,
                   lead(points_redeemed) OVER (PARTITION BY member_id ORDER BY paid_at, id) AS used
            FROM orders_order WHERE member_id IS NOT NULL
        ) o
        WHERE points_earned > 0
        """,
        {"tz": _tz()},
    )
    _run(
        """
        UPDATE members_member m SET points_balance = s.points
        FROM (SELECT member_id, sum(points_earned - points_redeemed) AS points FROM orders_order
              WHERE member_id IS NOT NULL GROUP BY member_id) s
        WHERE m.id = s.member_id AND s.points > 0
        """
    )


def _setup_returns(shop: dict) -> None:
    """The returned orders' returns (the first line, in full), return lines and refunds; 40% of the
    online ones brought back to a store's POS."""
    _run(
        """
        CREATE TEMP TABLE bench_returns AS
        SELECT o.g, o.paid_at + (1 + floor(o.u_ret_days * 14)) * interval '1 day' AS at, l.qty, l.net,
               CASE WHEN o.kind = 'pos' OR o.u_ret_where < 0.4 THEN %(pos)s ELSE o.channel_id END AS channel_id,
               CASE WHEN o.kind = 'pos' OR o.u_ret_where < 0.4 THEN (%(stores)s::bigint[])[o.si] END AS store_id,
               o.kind
        FROM bench_orders o JOIN bench_lines l ON l.g = o.g AND l.k = 1
        WHERE o.ret
        """,
        {"pos": shop["channels"]["POS"], "stores": shop["stores"]},
    )
    _run(
        """
        INSERT INTO orders_return (id, order_id, number, channel_id, store_id, refund_to, amount, points_given_back,
                                   points_taken_back, reason, idempotency_key, created_by_id, created_at)
        SELECT g, g, 'DR-' || g, channel_id, store_id, 'original', net, 0, 0, 'Does not fit', NULL, NULL, at
        FROM bench_returns
        """
    )
    _run(
        """
        INSERT INTO orders_returnline (id, ret_id, line_id, quantity, amount, disposition, location_id)
        SELECT g, g, g * 4 + 1, qty, net, 'restock', coalesce(store_id, %(warehouse)s) FROM bench_returns
        """,
        {"warehouse": shop["warehouses"][0]},
    )
    _run(
        """
        INSERT INTO orders_refund (id, order_id, ret_id, payment_id, tender, amount, status, provider_reference,
                                   attempts, created_by_id, created_at)
        SELECT g, g, g, NULL, CASE WHEN kind = 'mkt' THEN 'marketplace' WHEN mod(g, 2) = 0 THEN 'card' ELSE 'cash' END,
               net, 'done', '', 1, NULL, at
        FROM bench_returns
        """
    )


def _setup_coupons(shop: dict, start) -> None:
    """A campaign a month; each coupon order's unique code collected in the member's wallet (online or
    at a store) and redeemed on the order (given back if the order was returned); a quarter of the
    members hold another code they have not used."""
    from members.models import CouponCampaign

    campaigns = [
        CouponCampaign.objects.create(
            name=f"Bench month {i + 1}",
            discount_type=CouponCampaign.Discount.AMOUNT,
            amount=Decimal(100),
            min_spend=Decimal(500),
            starts_at=start + timedelta(days=30 * i - 15),
            ends_at=start + timedelta(days=30 * i + 45),
            code_type=CouponCampaign.Codes.UNIQUE,
        ).pk
        for i in range(DAYS // 30 + 1)
    ]
    params = {
        "campaigns": campaigns,
        "ncampaigns": len(campaigns),
        "start": start,
        "now": shop["now"],
        "pos": shop["channels"]["POS"],
        "web": shop["channels"]["WEB"],
        "app": shop["channels"]["APP"],
        "stores": shop["stores"],
        "nstores": STORES,
        "members": MEMBERS,
        "orders": ORDERS,
    }
    campaign_of = (  # the campaign of the 30 days {at} falls in
        "(%(campaigns)s::bigint[])"
        "[least(%(ncampaigns)s, 1 + floor(extract(epoch FROM {at} - %(start)s) / 2592000)::int)]"
    )
    _run(
        f"""
        INSERT INTO members_coupon (id, campaign_id, code, member_id, max_uses, times_used, created_at)
        SELECT g, {campaign_of.format(at="paid_at")}, 'BC' || g, member_id, 1, CASE WHEN ret THEN 0 ELSE 1 END,
               paid_at - interval '5 days'
        FROM bench_orders WHERE coupon
        """,
        params,
    )
    _run(
        f"""
        INSERT INTO members_coupon (id, campaign_id, code, member_id, max_uses, times_used, created_at)
        SELECT %(orders)s * 2 + i, {campaign_of.format(at="w.at")}, 'BW' || i, i * 4, 1, 0, w.at
        FROM generate_series(1, %(members)s / 4) i
        CROSS JOIN LATERAL (SELECT %(start)s::timestamptz + (%(now)s::timestamptz - %(start)s::timestamptz)
                                   * {U("i * 64 + 50")} AS at) w
        """,
        params,
    )
    _run(
        f"""
        INSERT INTO members_walletcoupon (member_id, coupon_id, collected_channel_id, collected_store_id, collected_at)
        SELECT c.member_id, c.id,
               CASE WHEN w.u < 0.3 THEN %(web)s WHEN w.u < 0.5 THEN %(app)s ELSE %(pos)s END,
               CASE WHEN w.u >= 0.5 THEN coalesce(m.registered_store_id,
                                                  (%(stores)s::bigint[])[1 + mod(c.id, %(nstores)s)::int]) END,
               c.created_at
        FROM members_coupon c JOIN members_member m ON m.id = c.member_id
        CROSS JOIN LATERAL (SELECT {U("c.id * 64 + 51")} AS u) w
        """,
        params,
    )
    _run(
        """
        INSERT INTO members_couponredemption (coupon_id, member_id, reference, discount, channel_id, store_id, status,
                                              redeemed_at)
        SELECT o.g, o.member_id, 'D-' || o.g, 100, o.channel_id, o.store_id,
               CASE WHEN o.ret THEN 'reinstated' ELSE 'redeemed' END, o.paid_at
        FROM bench_orders o WHERE o.coupon
        """
    )
    _run(
        """
        UPDATE members_couponcampaign c SET redeemed_count = s.n
        FROM (SELECT campaign_id, sum(times_used) AS n FROM members_coupon GROUP BY 1) s WHERE s.campaign_id = c.id
        """
    )


def _setup_stock(shop: dict, start, today) -> None:
    """Stock levels of every variant at every location, the sale movements of the last ``MOVEMENT_DAYS``
    days after an opening receipt (so the ledger adds up to on hand), lots of the lot-tracked SKUs,
    transfers in transit and received."""
    locations = shop["warehouses"] + shop["stores"]
    _run(
        f"""
        INSERT INTO inventory_stocklevel (variant_id, location_id, on_hand, reserved, safety_stock, min_level,
                                          max_level, updated_at)
        SELECT v.id, l.id, q.on_hand, CASE WHEN q.on_hand > 2 AND q.u < 0.1 THEN 1 ELSE 0 END,
               CASE WHEN l.wh THEN 5 ELSE 1 END, CASE WHEN l.wh THEN NULL ELSE 2 END,
               CASE WHEN l.wh THEN NULL ELSE 10 END, now()
        FROM bench_variants v
        CROSS JOIN (SELECT id, id = ANY(%(warehouses)s::bigint[]) AS wh FROM unnest(%(locations)s::bigint[]) id) l
        CROSS JOIN LATERAL (
            SELECT {U("v.id * 4096 + l.id * 8 + 1")} AS u, {U("v.id * 4096 + l.id * 8 + 2")} AS u2
        ) r
        CROSS JOIN LATERAL (
            SELECT CASE WHEN l.wh THEN (CASE WHEN r.u < 0.03 THEN 0 ELSE 20 + floor(r.u2 * 300)::int END)
                        ELSE (CASE WHEN r.u < 0.08 THEN 0 ELSE 1 + floor(r.u2 * 12)::int END) END AS on_hand, r.u
        ) q
        """,
        {"warehouses": shop["warehouses"], "locations": locations},
    )
    # the sale movements of the last MOVEMENT_DAYS days (each line leaves where its order was fulfilled from),
    # after an opening receipt of what is on hand now plus what they took, so the ledger adds up to on hand
    _run(
        """
        CREATE TEMP TABLE bench_sold AS
        SELECT l.variant_id, o.ship_from AS location_id, l.qty, f.at, l.g, l.k
        FROM bench_lines l JOIN bench_orders o USING (g) JOIN orders_fulfilment f ON f.id = l.g
        WHERE o.paid_at >= %(since)s
        """,
        {"since": shop["now"] - timedelta(days=MOVEMENT_DAYS)},
    )
    _run(
        """
        INSERT INTO inventory_stockmovement (variant_id, location_id, lot_id, kind, quantity, on_hand_after, unit_cost,
                                             reason, reference_type, reference_id, created_by_id, created_at)
        SELECT s.variant_id, s.location_id, NULL, 'receipt', s.on_hand + coalesce(d.units, 0),
               s.on_hand + coalesce(d.units, 0), c.average_cost, 'Opening stock', 'bench', '', NULL, %(start)s
        FROM inventory_stocklevel s
        LEFT JOIN inventory_skucost c ON c.variant_id = s.variant_id
        LEFT JOIN (SELECT variant_id, location_id, sum(qty) AS units FROM bench_sold GROUP BY 1, 2) d
               ON d.variant_id = s.variant_id AND d.location_id = s.location_id
        WHERE s.on_hand + coalesce(d.units, 0) > 0
        """,
        {"start": start},
    )
    _run(
        """
        INSERT INTO inventory_stockmovement (variant_id, location_id, lot_id, kind, quantity, on_hand_after, unit_cost,
                                             reason, reference_type, reference_id, created_by_id, created_at)
        SELECT d.variant_id, d.location_id, NULL, 'sale', -d.qty,
               s.on_hand + sum(d.qty) OVER whole - sum(d.qty) OVER running, NULL, '', 'order', 'D-' || d.g, NULL, d.at
        FROM bench_sold d
        JOIN inventory_stocklevel s ON s.variant_id = d.variant_id AND s.location_id = d.location_id
        WINDOW whole AS (PARTITION BY d.variant_id, d.location_id),
               running AS (PARTITION BY d.variant_id, d.location_id ORDER BY d.at, d.g, d.k)
        """
    )
    _run(
        """
        INSERT INTO inventory_lot (variant_id, code, expiry_date, created_at)
        SELECT v.id, 'L' || n, %(today)s::date + CASE WHEN n = 1 THEN 12 ELSE 120 END, now()
        FROM bench_variants v CROSS JOIN generate_series(1, 2) n WHERE v.tracks_lots
        """,
        {"today": today},
    )
    _run(
        """
        INSERT INTO inventory_lotstock (lot_id, location_id, on_hand)
        SELECT lot.id, s.location_id, CASE WHEN lot.code = 'L1' THEN s.on_hand / 2 ELSE s.on_hand - s.on_hand / 2 END
        FROM inventory_lot lot JOIN inventory_stocklevel s ON s.variant_id = lot.variant_id
        """
    )
    _run(
        f"""
        INSERT INTO inventory_transfer (id, origin_id, destination_id, status, kind, note, reservation_reference,
                                        requested_at, approved_at, shipped_at, received_at)
        SELECT t, (%(warehouses)s::bigint[])[1 + mod(t, 2)], (%(stores)s::bigint[])[1 + mod(t * 7, %(nstores)s)],
               CASE WHEN t <= %(transit)s THEN 'shipped' ELSE 'received' END, 'replenishment', '', '',
               w.at - interval '1 day', w.at - interval '20 hours', w.at,
               CASE WHEN t > %(transit)s THEN w.at + interval '1 day' END
        FROM generate_series(1, %(transfers)s) t
        CROSS JOIN LATERAL (
            SELECT CASE WHEN t <= %(transit)s THEN %(now)s::timestamptz - (1 + 4 * {U("t * 64 + 1")}) * interval '1 day'
                        ELSE %(start)s::timestamptz
                             + (%(now)s::timestamptz - %(start)s::timestamptz - interval '3 days') * {U("t * 64 + 2")}
                   END AS at
        ) w
        """,
        {
            "warehouses": shop["warehouses"],
            "stores": shop["stores"],
            "nstores": STORES,
            "transit": TRANSFERS_IN_TRANSIT,
            "transfers": TRANSFERS_IN_TRANSIT + TRANSFERS_RECEIVED,
            "now": shop["now"],
            "start": start,
        },
    )
    _run(
        """
        INSERT INTO inventory_transferline (transfer_id, variant_id, quantity_requested, quantity_shipped,
                                            quantity_received, discrepancy_note)
        SELECT t.id, v.id, 6, 6, CASE WHEN t.status = 'received' THEN 6 ELSE 0 END, ''
        FROM inventory_transfer t CROSS JOIN generate_series(0, 4) j
        JOIN bench_variants v ON v.idx = 1 + mod(t.id * 37 + j * 401, %(nv)s)
        """,
        {"nv": len(SIZES) * PRODUCTS},
    )


def _setup_traffic(shop: dict, today) -> None:
    """Door counts per store and hour (10-21) of every day, from the POS orders of that hour (a
    conversion of 20-33%); web and app sessions per day (2-3%)."""
    now_local = _localtime(shop["now"])
    params = {
        "tz": _tz(),
        "today": today,
        "hour": now_local.hour,
        "stores": shop["stores"],
        "web": shop["channels"]["WEB"],
        "app": shop["channels"]["APP"],
        "first": today - timedelta(days=DAYS - 1),
        "days": DAYS,
    }
    _run(
        f"""
        INSERT INTO dashboard_trafficcount (store_id, channel_id, day, hour, visits, source, updated_by_id, updated_at)
        SELECT s.id, NULL, d.day, h, coalesce(c.n, 0) * (3 + floor(2 * {U("s.id * 1000000 + d.i * 64 + h")})::int)
                                     + floor(6 * {U("s.id * 1000000 + d.i * 64 + h + 32")})::int,
               'api', NULL, now()
        FROM unnest(%(stores)s::bigint[]) s(id)
        CROSS JOIN (SELECT i, %(first)s::date + i AS day FROM generate_series(0, %(days)s - 1) i) d
        CROSS JOIN generate_series(10, 21) h
        LEFT JOIN (
            SELECT store_id, (paid_at AT TIME ZONE %(tz)s)::date AS day,
                   extract(hour FROM paid_at AT TIME ZONE %(tz)s)::int AS hour, count(*) AS n
            FROM bench_orders WHERE kind = 'pos' GROUP BY 1, 2, 3
        ) c ON c.store_id = s.id AND c.day = d.day AND c.hour = h
        WHERE d.day < %(today)s OR h < %(hour)s
        """,
        params,
    )
    _run(
        f"""
        INSERT INTO dashboard_trafficcount (store_id, channel_id, day, hour, visits, source, updated_by_id, updated_at)
        SELECT NULL, c.id, d.day, NULL, 200 + coalesce(n.n, 0) * (30 + floor(20 * {U("c.id * 100000 + d.i")})::int),
               'api', NULL, now()
        FROM unnest(ARRAY[%(web)s, %(app)s]::bigint[]) c(id)
        CROSS JOIN (SELECT i, %(first)s::date + i AS day FROM generate_series(0, %(days)s - 1) i) d
        LEFT JOIN (
            SELECT channel_id, (paid_at AT TIME ZONE %(tz)s)::date AS day, count(*) AS n
            FROM bench_orders GROUP BY 1, 2
        ) n ON n.channel_id = c.id AND n.day = d.day
        """,
        params,
    )


def _setup_attribution(shop: dict, start, today) -> int:
    """The commission policy (through the services), bindings of a third of the members, the last
    ``ATTRIBUTED_DAYS`` days attributed and last month's and this month's settlement drafts."""
    from attribution import services as attribution
    from attribution.bulk import orders_attribute_bulk
    from attribution.models import Policy
    from attribution.settlement import settlement_build
    from omo.core import config_cache
    from omo.dashboard.filters import day_start

    draft = attribution.policy_create(
        actor=None,
        name="Bench",
        validity_days={"pos_sale": 90, "qr_registration": 180, "referral_link": 30, "line_chat": 60, "hq_manual": 180},
        conflict="latest",
        default_rate="0.03",
        store_share="0.3",
        lockup_days=0,
    )
    policy = attribution.policy_adopt(actor=None, policy=draft)
    Policy.objects.filter(pk=policy.pk).update(effective_from=start - timedelta(days=30))
    config_cache.clear()
    _run(
        f"""
        INSERT INTO attribution_binding (member_id, clerk_id, store_id, source, started_at, counts, reference, note,
                                         created_at)
        SELECT m.id, m.registered_by_id, m.registered_store_id,
               (ARRAY['pos_sale', 'pos_sale', 'qr_registration', 'line_chat', 'referral_link'])[1 + mod(m.id, 5)::int],
               b.at, TRUE, '', '', b.at
        FROM members_member m
        CROSS JOIN LATERAL (
            SELECT greatest(m.created_at, %(start)s::timestamptz
                            + (%(now)s::timestamptz - %(start)s::timestamptz) * {U("m.id * 64 + 60")}) AS at
        ) b
        WHERE m.registered_store_id IS NOT NULL AND {U("m.id * 64 + 61")} < 0.66
        """,
        {"start": start, "now": shop["now"]},
    )
    attributed = orders_attribute_bulk(
        paid_from=day_start(today - timedelta(days=ATTRIBUTED_DAYS - 1)), paid_to=shop["now"]
    )
    this_month = today.replace(day=1)
    settlement_build(month=(this_month - timedelta(days=1)).replace(day=1))
    settlement_build(month=this_month)
    return attributed


def _finish() -> None:
    """Identity sequences past the explicit ids, temp tables dropped, ANALYZE."""
    for table in (
        "members_member",
        "orders_order",
        "orders_orderline",
        "orders_fulfilment",
        "orders_return",
        "orders_returnline",
        "orders_refund",
        "members_coupon",
        "inventory_transfer",
    ):
        _run(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    _run("DROP TABLE bench_lines, bench_orders, bench_totals, bench_days, bench_variants, bench_returns, bench_sold")
    _run("ANALYZE")


def _now():
    from django.utils import timezone

    return timezone.now()


def _tz() -> str:
    from django.conf import settings

    return settings.TIME_ZONE


def _localtime(value):
    from django.utils import timezone

    return timezone.localtime(value)


def setup() -> dict:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from omo.dashboard.filters import day_start

    steps: list = []
    today = timezone.localdate()
    first = today - timedelta(days=DAYS - 1)
    start = day_start(first)
    if os.environ.get("BENCH_KEEP_DATABASE") and _scalar("SELECT count(*) FROM orders_order"):
        # the data of an earlier run (the same day: its dates are relative to the day it was made)
        hq = get_user_model().objects.get(username="dash-hq")
        attributed = _scalar("SELECT count(*) FROM attribution_attributionline")
        steps.append(("kept from an earlier run (BENCH_KEEP_DATABASE)", 0.0))
        return {"hq": hq, "attributed": attributed, "steps": steps, "today": today, "first": first, "start": start}
    with _step(steps, "services: 52 locations, 4 channels, 401 staff, 30 categories"):
        shop = _setup_services()
    shop["now"] = timezone.now()
    with _step(steps, f"catalog: {len(SIZES) * PRODUCTS:,} variants, prices, costs"):
        _setup_catalog(shop)
    with _step(steps, f"members: {MEMBERS:,}"):
        _setup_members(shop, start)
    loaded = ("orders_order", "orders_orderline", "orders_fulfilment", "orders_fulfilmentline", "members_purchase")
    with _step(steps, "orders, order lines, fulfilments, purchases (then their indexes)"), _bulk_load(*loaded):
        _setup_orders(shop, start, first)
        _setup_fulfilments()
        _run(
            """
            INSERT INTO members_purchase (member_id, reference, channel_id, store_id, amount, refunded, paid_at)
            SELECT member_id, number, channel_id, store_id, total, refunded_total, paid_at
            FROM orders_order WHERE member_id IS NOT NULL
            """
        )
    with _step(steps, "points entries and lots, balances"):
        _setup_points()
    with _step(steps, "returns, return lines, refunds"):
        _setup_returns(shop)
    with _step(steps, "coupons, wallets, redemptions"):
        _setup_coupons(shop, start)
    with _step(steps, "stock levels, movements, lots, transfers"):
        _setup_stock(shop, start, today)
    with _step(steps, "traffic counts"):
        _setup_traffic(shop, today)
    with _step(steps, "sequences, ANALYZE"):
        _finish()
    with _step(steps, f"attribution: policy, bindings, {ATTRIBUTED_DAYS} days attributed, 2 settlement drafts"):
        shop["attributed"] = _setup_attribution(shop, start, today)
        _run("ANALYZE")
    shop.update(steps=steps, today=today, first=first, start=start)
    return shop


# --- measuring --------------------------------------------------------------------------------------


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


BASELINE = """
SELECT (paid_at AT TIME ZONE %(tz)s)::date, channel_id, store_id, count(*), sum(total)
FROM orders_order
WHERE paid_at >= %(since)s AND paid_at < %(until)s
GROUP BY 1, 2, 3
"""


def _baseline(since, until) -> tuple[float, int]:
    """Median seconds of the hand-written aggregate over [since, until) and its row count."""
    from django.db import connection

    times, rows = [], 0
    for i in range(WARMUPS + RUNS):
        t = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(BASELINE, {"tz": _tz(), "since": since, "until": until})
            rows = len(cursor.fetchall())
        if i >= WARMUPS:
            times.append(time.perf_counter() - t)
    return statistics.median(times), rows


def _rollup(shop: dict) -> list:
    from omo.dashboard.models import MemberSegmentMonth, ProductDay, SalesDay
    from omo.dashboard.services import rollup_catch_up, rollup_refresh

    out = []
    yesterday = shop["today"] - timedelta(days=1)
    t = time.perf_counter()
    days = rollup_refresh(first=shop["first"], last=yesterday)
    out.append(
        (
            f"rollup_refresh({shop['first']} .. {yesterday})",
            time.perf_counter() - t,
            f"{days} days; {SalesDay.objects.count():,} sales rows, {ProductDay.objects.count():,} product rows",
        )
    )
    t = time.perf_counter()
    days = rollup_catch_up()
    out.append(
        (
            "rollup_catch_up(), first run (adds the monthly member segments)",
            time.perf_counter() - t,
            f"{days} days again; {MemberSegmentMonth.objects.count():,} segment rows",
        )
    )
    t = time.perf_counter()
    days = rollup_catch_up()
    out.append(("rollup_catch_up() on an up-to-date rollup: the nightly run", time.perf_counter() - t, f"{days} days"))
    # what autovacuum does after a rewrite: the whole year was deleted and written again, and the nightly
    # run of a real shop rewrites only two days (VACUUM cannot run inside a transaction: autocommit here)
    _run(
        "VACUUM ANALYZE dashboard_salesday, dashboard_productday, dashboard_productmonth, dashboard_clerkday, "
        "dashboard_coversold, dashboard_membersegmentmonth, dashboard_rolledupday"
    )
    return out


def _page_runs(client, hq, key: str, params: dict) -> dict:
    """One page with one set of filters: timings, statement count, the page built alone, the slowest
    statement. Raises whatever the page raises."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from omo.dashboard import pages
    from omo.dashboard.filters import filters_from

    url = f"/dashboard/{key}/"
    times = []
    size = 0
    for i in range(WARMUPS + RUNS):
        t = time.perf_counter()
        response = client.get(url, params, secure=True)
        elapsed = time.perf_counter() - t
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
        size = len(response.content)
        if i >= WARMUPS:
            times.append(elapsed)
    with CaptureQueriesContext(connection) as captured:
        client.get(url, params, secure=True)
    statements = [q for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    slowest = max(statements, key=lambda q: float(q["time"]), default=None)
    filters = filters_from(params, hq)
    built = []
    for _ in range(BUILD_RUNS):
        t = time.perf_counter()
        pages.build(key, filters)
        built.append(time.perf_counter() - t)
    return {
        "p50": statistics.median(times),
        "p95": _percentile(times, 0.95),
        "max": max(times),
        "queries": len(statements),
        "build": statistics.median(built),
        "kb": size / 1024,
        "slowest": slowest,
    }


def _pages(shop: dict) -> list:
    from django.test import Client

    from omo.dashboard.pages import PAGES

    # the test client keeps the bench's one connection open between requests (as production's DB_CONN_MAX_AGE
    # of 60 s does), so no request pays for connecting
    client = Client(HTTP_HOST="bench")
    client.force_login(shop["hq"])
    store = shop["busiest_store"]
    rows = []
    only = [key for key in os.environ.get("BENCH_DASHBOARD_PAGES", "").split(",") if key]
    for key, _title, _module in PAGES:
        if only and key not in only:
            continue
        variants = [("last 30 days", {}), (f"30 days, store {store}", {"store": store})]
        if key in ("sales", "members"):
            variants.append(("last 365 days", {"from": shop["first"].isoformat(), "to": shop["today"].isoformat()}))
        for label, params in variants:
            try:
                rows.append((key, label, _page_runs(client, shop["hq"], key, params)))
            except Exception as error:  # a page being written (no module yet) or failing: reported, not fatal
                message = f"{type(error).__name__}: {error}".replace("\n", " ")
                rows.append((key, label, f"not available: {message[:150]}"))
    return rows


def _explain(sql: str) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)  # no parameters: the statement as it was sent
        return [row[0] for row in cursor.fetchall()]


def run() -> dict:
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import override_settings

    from omo.dashboard.filters import day_start

    t = time.perf_counter()
    shop = setup()
    setup_seconds = time.perf_counter() - t
    counts = {
        table: _scalar(f"SELECT count(*) FROM {table}")
        for table in (
            "orders_order",
            "orders_orderline",
            "members_member",
            "members_purchase",
            "orders_return",
            "orders_fulfilment",
            "members_walletcoupon",
            "members_couponredemption",
            "members_pointsentry",
            "inventory_stocklevel",
            "dashboard_trafficcount",
            "attribution_attributionline",
        )
    }
    shop["busiest_store"] = _scalar(
        """
        SELECT l.code FROM orders_order o JOIN org_location l ON l.id = o.store_id
        WHERE o.paid_at >= %s GROUP BY l.code ORDER BY count(*) DESC, l.code LIMIT 1
        """,
        [day_start(shop["today"] - timedelta(days=29))],
    )

    since, until = day_start(shop["today"] - timedelta(days=29)), day_start(shop["today"] + timedelta(days=1))
    baseline, baseline_rows = _baseline(since, until)
    baseline_year, _rows = _baseline(shop["start"], until)

    rollup = _rollup(shop)
    # DEBUG=0 serves static files through WhiteNoise's manifest, as in production: the page's {% static %}
    # tags need it (it fills STATIC_ROOT, staticfiles/, not in git). If collectstatic fails, the pages are
    # measured with plain static URLs instead (the same template work but the manifest lookup) and it is said.
    static_note = ""
    try:
        call_command("collectstatic", interactive=False, verbosity=0)
    except Exception as error:
        first_line = re.sub(r" with <[^>]*>", "", str(error).splitlines()[0])
        static_note = f"collectstatic failed ({type(error).__name__}: {first_line})"
    if static_note:
        plain = "django.contrib.staticfiles.storage.StaticFilesStorage"
        with override_settings(STORAGES={**settings.STORAGES, "staticfiles": {"BACKEND": plain}}):
            pages = _pages(shop)
    else:
        pages = _pages(shop)

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('shared_buffers'), current_setting('work_mem'), version()")
        shared_buffers, work_mem, version = cursor.fetchone()

    print(
        f"\nHQ dashboard on {counts['orders_order']:,} orders ({counts['orders_orderline']:,} lines) over "
        f"{DAYS} days up to {shop['today']}, {counts['members_member']:,} members, {STORES} stores; "
        f"{os.cpu_count()} cores, {version.split(' on ')[0]}, shared_buffers {shared_buffers}, work_mem {work_mem}"
    )
    print(f"\nData set-up: {setup_seconds:.0f} s\n")
    print("| step | seconds |\n|---|---:|")
    for name, seconds in shop["steps"]:
        print(f"| {name} | {seconds:.1f} |")
    print("\n| table | rows |\n|---|---:|")
    for table, n in counts.items():
        print(f"| {table} | {n:,} |")

    print("\nRollup job\n\n| step | seconds | |\n|---|---:|---|")
    for name, seconds, note in rollup:
        print(f"| {name} | {seconds:.2f} | {note} |")

    print(
        f"\nBaseline: the hand-written aggregate over orders_order for the last 30 days (local day, channel, store: "
        f"{baseline_rows:,} rows): median {baseline * 1000:.1f} ms of {RUNS} runs; the same over 365 days "
        f"{baseline_year * 1000:.1f} ms.\n"
    )
    print(
        f"Pages: GET /dashboard/<key>/ through Django's test client as HQ, {WARMUPS} warm-ups then {RUNS} runs; "
        f"statements of one run; 'build': the page's selectors alone (median of {BUILD_RUNS}).\n"
    )
    if static_note:
        print(f"Static files: {static_note}; the pages were measured with plain static URLs (no manifest).\n")
    print(
        f"| page | filters | p50 ms | p95 ms | max ms | statements | build ms | KB | p95 / baseline | "
        f"p95 < {GOAL_MS:.0f} ms |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    over = []
    for key, label, result in pages:
        if isinstance(result, str):
            print(f"| {key} | {label} | {result} | | | | | | | |")
            continue
        ok = result["p95"] * 1000 < GOAL_MS
        print(
            f"| {key} | {label} | {result['p50'] * 1000:.0f} | {result['p95'] * 1000:.0f} | "
            f"{result['max'] * 1000:.0f} | {result['queries']} | {result['build'] * 1000:.0f} | {result['kb']:.0f} | "
            f"{result['p95'] / baseline:.1f} | {'yes' if ok else 'NO'} |"
        )
        if not ok and result["slowest"] is not None:
            over.append((key, label, result["slowest"]))
    for key, label, slowest in over:
        print(f"\nSlowest statement of {key} ({label}), {float(slowest['time']) * 1000:.0f} ms:\n")
        print("    " + slowest["sql"][:2000])
        try:
            plan = _explain(slowest["sql"])
        except Exception as error:
            plan = [f"EXPLAIN failed: {error}"]
        print("\n    " + "\n    ".join(plan[:60]))
    return {"setup": setup_seconds, "baseline": baseline, "rollup": rollup, "pages": pages}
