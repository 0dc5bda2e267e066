"""Bulk availability: 50 SKUs across 200 locations in a catalog of 20,000 SKUs.

Measures what ``GET /api/v1/inventory/availability/?sku=...`` does for a listing page
(``inventory.selectors.availability_summary``; with ``detail=1``, resolving the SKUs and then
``availability``): the number of queries and the median and p95 time over 300 requests of 50 random
SKUs. Goal: at most 3 queries, p95 under 15 ms.
"""

from __future__ import annotations

import random
import statistics
import time

SKUS = 20_000
LOCATIONS = 200
STOCKED_SHARE = 0.3  # each SKU is held at about 30% of the locations


def _build() -> list[str]:
    from django.db import connection

    from inventory.models import ChannelLocation
    from omo.org.models import Location, SalesChannel
    from tests.factories import make_category

    category = make_category("bench")
    channel = SalesChannel.objects.create(code="BENCHWEB", name="Bench web", kind="web")
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO org_location (code, name, kind, city, address, phone, is_active, created_at, updated_at)
            SELECT 'L-' || lpad(g::text, 4, '0'), 'Location ' || g, CASE WHEN g <= 5 THEN 'warehouse' ELSE 'store' END,
                   '', '', '', true, now(), now()
            FROM generate_series(1, %s) g""",
            [LOCATIONS],
        )
        cursor.execute(
            """
            INSERT INTO catalog_product (style_code, name, description, category_id, status, tracks_lots,
                                         created_at, updated_at)
            SELECT 'BP' || lpad(g::text, 5, '0'), 'Bench product ' || g, '', %s, 'active', false, now(), now()
            FROM generate_series(1, %s) g""",
            [category.pk, SKUS // 10],
        )
        cursor.execute("""
            INSERT INTO catalog_variant (product_id, sku, color, size, attributes, position, is_active, created_at)
            SELECT p.id, p.style_code || '-' || s, '', s::text, '{}', s, true, now()
            FROM catalog_product p CROSS JOIN generate_series(1, 10) s WHERE p.style_code LIKE 'BP%%'""")
        cursor.execute(
            """
            INSERT INTO inventory_stocklevel (variant_id, location_id, on_hand, reserved, safety_stock, updated_at)
            SELECT v.id, l.id, 1 + (random() * 20)::int, 0, 0, now()
            FROM catalog_variant v CROSS JOIN org_location l
            WHERE v.sku LIKE 'BP%%' AND l.code LIKE 'L-%%' AND random() < %s""",
            [STOCKED_SHARE],
        )
    for location in Location.objects.filter(code__startswith="L-"):
        ChannelLocation.objects.create(
            channel=channel,
            location=location,
            priority=10,
            ships=location.kind == "warehouse",
            offers_pickup=location.kind == "store",
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # what autovacuum does on a live database
    from catalog.models import Variant

    return list(Variant.objects.filter(sku__startswith="BP").values_list("sku", flat=True))


def run() -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from catalog.services import resolve_skus
    from inventory.models import StockLevel
    from inventory.selectors import availability, availability_summary
    from omo.org.models import SalesChannel

    started = time.perf_counter()
    skus = _build()
    built = time.perf_counter() - started
    channel = SalesChannel.objects.get(code="BENCHWEB")
    rng = random.Random(7)
    times, query_counts, detail_times, detail_counts = [], [], [], []
    for i in range(330):
        sample = rng.sample(skus, 50)
        with CaptureQueriesContext(connection) as queries:
            t0 = time.perf_counter()
            result = availability_summary(skus=sample, channel=channel)
            elapsed = (time.perf_counter() - t0) * 1000
        with CaptureQueriesContext(connection) as detail_queries:
            t0 = time.perf_counter()
            variants = resolve_skus(sample, light=True)
            detail = availability(variants=list(variants.values()), channel=channel)
            detail_elapsed = (time.perf_counter() - t0) * 1000
        assert len(result) == len(detail) == 50
        if i >= 30:  # warm-up excluded
            times.append(elapsed)
            query_counts.append(len(queries.captured_queries))
            detail_times.append(detail_elapsed)
            detail_counts.append(len(detail_queries.captured_queries))
    times.sort()
    detail_times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    detail_p95 = detail_times[int(len(detail_times) * 0.95) - 1]
    rows = StockLevel.objects.count()
    print(
        f"\nBulk availability: 50 SKUs of {len(skus):,} across {LOCATIONS} locations "
        f"({rows:,} stock rows; data built in {built:.1f} s)"
    )
    print(f"{'answer':<28} {'requests':>9} {'queries':>8} {'median ms':>10} {'p95 ms':>8}")
    print(
        f"{'summary (listing page)':<28} {len(times):>9} {max(query_counts):>8} "
        f"{statistics.median(times):>10.2f} {p95:>8.2f}"
    )
    print(
        f"{'detail=1 (every location)':<28} {len(detail_times):>9} {max(detail_counts):>8} "
        f"{statistics.median(detail_times):>10.2f} {detail_p95:>8.2f}"
    )
