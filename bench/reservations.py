"""Hot-SKU reservation throughput: the service layer against pgbench running the same SQL.

Both sides reserve one unit of one SKU at one location per transaction, with 8 and then 32 clients,
for the same number of seconds, one after the other: the service layer as separate processes (like
web workers) calling ``inventory.services.reservation_create``; pgbench running one conditional
``INSERT`` of the reservation plus one conditional ``UPDATE ... RETURNING`` of the stock row per
transaction, in the same order as the service. The stock is large enough not to run out,
then a final run on 1,000 units checks that exactly 1,000 reservations succeed (no oversell).
"""

from __future__ import annotations

import multiprocessing
import time

CLIENT_COUNTS = (8, 32)


def _setup(on_hand: int):
    from decimal import Decimal

    from inventory import services
    from inventory.models import Reservation, StockLevel
    from omo.org.models import Location
    from tests.factories import make_variant

    location = Location.objects.filter(code="WH-BENCH").first() or Location.objects.create(
        code="WH-BENCH", name="Bench warehouse", kind="warehouse"
    )
    variant = make_variant(style_code=f"HOT{int(time.time() * 1000) % 10**8}")
    receipt = services.goods_receipt_create(
        location=location,
        supplier="bench",
        actor=None,
        lines=[{"variant": variant, "quantity": on_hand, "unit_cost": Decimal("1")}],
    )
    services.goods_receipt_post(receipt=receipt, actor=None)
    level = StockLevel.objects.get(variant=variant, location=location)
    Reservation.objects.all().delete()
    return variant.pk, location.pk, level.pk


def _service_worker(variant_id, location_id, deadline, start_at, results, index):
    import django
    from django.db import connections

    django.setup()
    from catalog.models import Variant
    from inventory import services
    from omo.org.models import Location

    connections.close_all()
    variant = Variant.objects.select_related("product").get(pk=variant_id)
    location = Location.objects.get(pk=location_id)
    ok = short = 0
    while time.time() < start_at:
        time.sleep(0.001)
    n = 0
    while time.time() < deadline:
        n += 1
        try:
            services.reservation_create(
                lines=[services.StockLine(variant, location, 1)], reference=f"bench:{index}:{n}"
            )
            ok += 1
        except services.InsufficientStock:
            short += 1
    results.put((ok, short))
    connections.close_all()


def service_run(clients: int, seconds: float, variant_id: int, location_id: int) -> tuple[int, int, float]:
    from django.db import connections

    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    start_at = time.time() + 2.0  # let every process connect first
    deadline = start_at + seconds
    procs = [
        ctx.Process(target=_service_worker, args=(variant_id, location_id, deadline, start_at, results, i))
        for i in range(clients)
    ]
    for proc in procs:
        proc.start()
    totals = [results.get(timeout=seconds + 120) for _ in procs]
    for proc in procs:
        proc.join()
    ok = sum(t[0] for t in totals)
    return ok, sum(t[1] for t in totals), ok / seconds


PGBENCH_SCRIPT = """\\set n random(1, 2000000000)
BEGIN;
INSERT INTO inventory_reservation (variant_id, location_id, quantity, status, reference, created_at)
  VALUES ({variant}, {location}, 1, 'active', 'pgbench:' || :n, now()) RETURNING id;
UPDATE inventory_stocklevel SET reserved = reserved + 1, updated_at = now()
  WHERE variant_id = {variant} AND location_id = {location} AND on_hand - reserved - safety_stock >= 1
  RETURNING on_hand, reserved;
COMMIT;
"""


def pgbench_run(url: str, clients: int, seconds: float, variant_id: int, location_id: int) -> float:
    from bench.pgbench import pgbench

    script = PGBENCH_SCRIPT.format(variant=variant_id, location=location_id)
    return pgbench(url, script, clients=clients, seconds=seconds)[0]


def _reset(level_id: int) -> None:
    from inventory.models import Reservation, StockLevel

    Reservation.objects.all().delete()
    StockLevel.objects.filter(pk=level_id).update(reserved=0)


ROUNDS = 3


def run(url: str, *, seconds: float) -> None:
    """For each client count, ROUNDS alternating runs of each side (service, raw, service, raw ...),
    each ``seconds / ROUNDS`` long; the table shows the medians, so one noisy run does not decide."""
    import statistics

    from inventory.models import Reservation, StockLevel

    variant_id, location_id, level_id = _setup(on_hand=50_000_000)
    rows = []
    for clients in CLIENT_COUNTS:
        service_runs, raw_runs, consistent = [], [], True
        for _round in range(ROUNDS):
            _reset(level_id)
            ok, _short, service_tps = service_run(clients, seconds / ROUNDS, variant_id, location_id)
            level = StockLevel.objects.get(pk=level_id)
            consistent &= level.reserved == ok == Reservation.objects.count()
            service_runs.append(service_tps)
            _reset(level_id)
            raw_runs.append(pgbench_run(url, clients, seconds / ROUNDS, variant_id, location_id))
        service_tps, raw_tps = statistics.median(service_runs), statistics.median(raw_runs)
        rows.append((clients, service_tps, raw_tps, service_tps / raw_tps, consistent))
    _reset(level_id)

    variant_id, location_id, level_id = _setup(on_hand=1_000)
    ok, short, _tps = service_run(32, 6, variant_id, location_id)
    level = StockLevel.objects.get(pk=level_id)

    print(
        f"\nHot-SKU reservation throughput (one SKU, one location, 1 unit per transaction; "
        f"median of {ROUNDS} alternating runs of {seconds / ROUNDS:g} s)"
    )
    print(f"{'clients':>8} {'service tx/s':>13} {'raw SQL tx/s':>13} {'ratio':>7}  ledger")
    for clients, service_tps, raw_tps, ratio, consistent in rows:
        print(f"{clients:>8} {service_tps:>13.0f} {raw_tps:>13.0f} {ratio:>7.2f}  {'ok' if consistent else 'MISMATCH'}")
    print(
        f"\nOversell check: 32 clients on 1,000 units -> {ok} reserved, {short} refused, "
        f"stock row reserved={level.reserved} on_hand={level.on_hand} "
        f"({'no oversell' if ok == level.reserved == 1000 else 'OVERSOLD'})"
    )
