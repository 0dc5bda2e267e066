"""Flash sale over HTTP: 32 clients place orders for one SKU through gunicorn, against pgbench.

The app runs under gunicorn (a subprocess with the bench's database, ``DEBUG=0``, ``HTTPS=0``,
persistent database connections, Redis), and 32 HTTP/1.1 clients (threads in several processes, each
with a keep-alive connection) ``POST /api/v1/orders/`` with the web channel's key: one unit of one SKU,
shipped, a fresh ``Idempotency-Key`` per request. Two runs:

- sustained: the SKU has 1,000,000 units; after a warm-up, ROUNDS alternating runs of the same
  length: the clients order for a fixed number of seconds, then pgbench runs the raw SQL of a hot-row
  sale (the reservation ``INSERT`` and the conditional ``UPDATE ... SET reserved = reserved + 1 ...
  RETURNING``, as ``bench/reservations.py``) with the same 32 clients. The ratio is the median HTTP
  orders/s over the median pgbench tx/s.
- oversell check: a new SKU with 1,000 units, each client sends 50 orders (1,600 in all): exactly
  1,000 must be placed, the other 600 refused with 409 ``insufficient_stock``, and the stock row and
  the orders must agree. pgbench then runs the same 1,600 transactions on a 1,000-unit row.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

CLIENTS = 32
CLIENT_PROCESSES = 4  # x 8 threads: one client process per core would be enough, four keep the GIL out of it
OVERSELL_UNITS = 1_000
OVERSELL_PER_CLIENT = 50
SUSTAINED_UNITS = 1_000_000
WARMUP_SECONDS = 4.0
ROUNDS = 3  # alternating HTTP / pgbench runs of seconds / ROUNDS each; the table shows medians
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
ROOT = Path(__file__).resolve().parent.parent
LOG = Path(tempfile.gettempdir()) / "omo-bench-gunicorn.log"


# --- data ---------------------------------------------------------------------------------------------


def _shop():
    """The web channel with a key, and a warehouse it ships from."""
    from inventory.models import ChannelLocation
    from omo.org.models import Location, SalesChannel
    from omo.org.services import channel_credential_issue

    channel = SalesChannel.objects.create(code="WEB", name="Web shop", kind=SalesChannel.Kind.WEB)
    _credential, key = channel_credential_issue(channel=channel, name="flash-sale bench", created_by=None)
    warehouse = Location.objects.create(code="WH-FLASH", name="Flash-sale warehouse", kind="warehouse")
    ChannelLocation.objects.create(channel=channel, location=warehouse, priority=1, ships=True)
    return channel, key, warehouse


def _sku(channel, warehouse, on_hand: int, style: str):
    """A new SKU priced on the channel with ``on_hand`` units received at the warehouse."""
    from catalog.services import price_set
    from inventory import services
    from inventory.models import StockLevel
    from tests.factories import make_variant

    variant = make_variant(style_code=style)
    price_set(variant=variant, channel=channel, price=Decimal("990"))
    receipt = services.goods_receipt_create(
        location=warehouse,
        supplier="bench",
        actor=None,
        lines=[{"variant": variant, "quantity": on_hand, "unit_cost": Decimal("300")}],
    )
    services.goods_receipt_post(receipt=receipt, actor=None)
    return variant, StockLevel.objects.get(variant=variant, location=warehouse).pk


# --- gunicorn -----------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_start(
    url: str, *, workers: int, threads: int, env: dict | None = None, log: Path = LOG, wait: int = 30
) -> tuple[subprocess.Popen, int]:
    """gunicorn on a free local port with production settings (or ``env``), its log in ``log``;
    returns once ``/healthz/live`` answers (at most ``wait`` seconds)."""
    port = _free_port()
    env = env or {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "0",
        "HTTPS": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DB_CONN_MAX_AGE": "60",
        "REDIS_URL": REDIS_URL,
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "omo.settings",
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "omo.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        f"--threads={threads}",
        f"--worker-class={'gthread' if threads > 1 else 'sync'}",
        "--backlog=2048",
        "--keep-alive=30",
        "--log-level=warning",
        "--timeout=60",
    ]
    # its log (a warning per refused order) goes to a file, not between the bench's lines
    with open(log, "w") as out:  # the child keeps its own copy of the file
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.time() + wait
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode}; see {log}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz/live")
            conn.getresponse().read()
            conn.close()
            return proc, port
        except OSError:
            time.sleep(0.2)
    gunicorn_stop(proc)
    raise SystemExit(f"gunicorn did not start within {wait} s")


def gunicorn_stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- HTTP clients -------------------------------------------------------------------------------------


def _client_thread(port, key, sku, start_at, deadline, count, tag, out):
    """One client: one keep-alive connection, orders one unit at a time until ``deadline`` (or
    ``count`` orders). Appends (finished at, latency s, status, refused for stock) per request."""
    body = json.dumps(
        {
            "lines": [{"sku": sku, "quantity": 1}],
            "fulfilment": "ship",
            "shipping_address": {"name": "林美華", "phone": "0912345678", "address": "台北市信義路五段7號"},
        }
    ).encode()
    headers = {"Content-Type": "application/json", "X-Api-Key": key, "Connection": "keep-alive"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    records = []
    while time.time() < start_at:
        time.sleep(0.001)
    n = 0
    while (count is None and time.time() < deadline) or (count is not None and n < count):
        n += 1
        headers["Idempotency-Key"] = f"{tag}-{n}-{uuid.uuid4().hex}"
        began = time.perf_counter()
        try:
            conn.request("POST", "/api/v1/orders/", body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            conn.close()  # reconnects on the next request
            data, status = b"", 0
        ended = time.perf_counter()
        records.append((time.time(), ended - began, status, status == 409 and b'"insufficient_stock"' in data))
    conn.close()
    out.extend(records)


def _client_process(port, key, sku, start_at, deadline, count, threads, index, results):
    out: list = []
    workers = [
        threading.Thread(target=_client_thread, args=(port, key, sku, start_at, deadline, count, f"c{index}.{t}", out))
        for t in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    results.put((out, usage.ru_utime + usage.ru_stime))


def http_run(port, key, sku, *, seconds: float | None = None, per_client: int | None = None):
    """All clients at once; returns (started at, records, CPU seconds the clients used)."""
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    start_at = time.time() + 1.0
    deadline = start_at + (seconds or 0)
    threads = CLIENTS // CLIENT_PROCESSES
    procs = [
        ctx.Process(target=_client_process, args=(port, key, sku, start_at, deadline, per_client, threads, i, results))
        for i in range(CLIENT_PROCESSES)
    ]
    for proc in procs:
        proc.start()
    records, cpu = [], 0.0
    for _proc in procs:
        out, used = results.get(timeout=(seconds or 0) + 600)
        records += out
        cpu += used
    for proc in procs:
        proc.join()
    return start_at, records, cpu


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _latency(values_s: list[float]) -> tuple[float, float, float]:
    return tuple(_pct(values_s, p) * 1000 for p in (50, 95, 99))


# --- pgbench ------------------------------------------------------------------------------------------

PGBENCH_SCRIPT = """\\set n random(1, 2000000000)
BEGIN;
INSERT INTO inventory_reservation (variant_id, location_id, quantity, status, reference, created_at)
  VALUES ({variant}, {location}, 1, 'active', 'pgbench:' || :n, now()) RETURNING id;
UPDATE inventory_stocklevel SET reserved = reserved + 1, updated_at = now()
  WHERE variant_id = {variant} AND location_id = {location} AND on_hand - reserved - safety_stock >= 1
  RETURNING on_hand, reserved;
COMMIT;
"""


def pgbench_run(url: str, variant_id: int, location_id: int, *, seconds: float | None = None, per_client=None):
    """pgbench with CLIENTS clients for ``seconds`` (or ``per_client`` transactions each); returns
    (tx/s, [latency s per transaction])."""
    from bench.pgbench import pgbench

    script = PGBENCH_SCRIPT.format(variant=variant_id, location=location_id)
    return pgbench(url, script, clients=CLIENTS, seconds=seconds, per_client=per_client, latencies=True)


def _cpu_seconds(gunicorn_pid: int, database: str) -> dict[str, float]:
    """CPU seconds used so far by the gunicorn master and workers, and by the PostgreSQL backends
    connected to the bench database."""
    used = {"gunicorn": 0, "postgres": 0}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline") as f:
                cmdline = f.read()
        except OSError:
            continue
        ticks = int(fields[11]) + int(fields[12])  # utime + stime
        if int(pid) == gunicorn_pid or int(fields[1]) == gunicorn_pid:  # fields[1] is the parent
            used["gunicorn"] += ticks
        elif cmdline.startswith("postgres:") and f" {database} " in cmdline:
            used["postgres"] += ticks
    return {k: v / os.sysconf("SC_CLK_TCK") for k, v in used.items()}


# --- the runs -----------------------------------------------------------------------------------------


def _ledger(variant, level_id):
    from inventory.models import Reservation, StockLevel
    from orders.models import OrderLine

    level = StockLevel.objects.get(pk=level_id)
    orders = OrderLine.objects.filter(variant=variant).values("order").distinct().count()
    units = sum(OrderLine.objects.filter(variant=variant).values_list("quantity", flat=True))
    held = sum(
        Reservation.objects.filter(variant=variant, status=Reservation.Status.ACTIVE).values_list("quantity", flat=True)
    )
    return orders, units, held, level.reserved, level.on_hand


def run(url: str, *, seconds: float = 15.0, workers: int = 4, threads: int = 1) -> dict:
    from django.db import connections

    load = os.getloadavg()  # others' work on a shared machine shows here
    channel, key, warehouse = _shop()
    stamp = int(time.time()) % 10**6
    big, big_level = _sku(channel, warehouse, SUSTAINED_UNITS, f"FLASHBIG{stamp}")
    small, small_level = _sku(channel, warehouse, OVERSELL_UNITS, f"FLASH{stamp}")
    raw_small, _raw_small_level = _sku(channel, warehouse, OVERSELL_UNITS, f"FLASHRAW{stamp}")
    connections.close_all()

    proc, port = gunicorn_start(url, workers=workers, threads=threads)
    try:
        http_run(port, key, big.sku, seconds=WARMUP_SECONDS)  # every worker connected and warm
        database = urlsplit(url).path.lstrip("/")
        length = max(1, round(seconds / ROUNDS))  # pgbench -T takes whole seconds
        http_ops, raw_ops, http_lat, raw_lat, other, consistent = [], [], [], [], set(), True
        cpu, total = {"gunicorn": 0.0, "postgres": 0.0, "clients": 0.0}, 0
        for _round in range(ROUNDS):
            before, cpu_before = _ledger(big, big_level), _cpu_seconds(proc.pid, database)
            connections.close_all()
            started, records, client_cpu = http_run(port, key, big.sku, seconds=length)
            cpu_after, after = _cpu_seconds(proc.pid, database), _ledger(big, big_level)
            connections.close_all()
            for name in ("gunicorn", "postgres"):
                cpu[name] += cpu_after[name] - cpu_before[name]
            cpu["clients"] += client_cpu
            placed = [r for r in records if r[2] == 201 and r[0] <= started + length]
            http_ops.append(len(placed) / length)
            http_lat += [r[1] for r in placed]
            total += sum(r[2] == 201 for r in records)
            other |= {r[2] for r in records} - {201}
            # every 201 is one order, one active reservation and one unit more reserved on the row
            consistent &= (
                after[0] - before[0]
                == after[2] - before[2]
                == after[3] - before[3]
                == sum(r[2] == 201 for r in records)
            )
            tps, latencies = pgbench_run(url, big.pk, warehouse.pk, seconds=length)
            raw_ops.append(tps)
            raw_lat += latencies
        sustained = {
            "ops": statistics.median(http_ops),
            "runs": http_ops,
            "latency": _latency(http_lat),
            "other": sorted(other),
            "consistent": consistent,
            "raw_tps": statistics.median(raw_ops),
            "raw_runs": raw_ops,
            "raw_latency": _latency(raw_lat),
            "cpu_ms": {name: used / total * 1000 for name, used in cpu.items()},
        }

        # the oversell check: 1,600 orders for 1,000 units
        started, records, _cpu = http_run(port, key, small.sku, per_client=OVERSELL_PER_CLIENT)
        orders, units, held, reserved, on_hand = _ledger(small, small_level)
        connections.close_all()
        statuses: dict[int, int] = {}
        for r in records:
            statuses[r[2]] = statuses.get(r[2], 0) + 1
        placed = [r for r in records if r[2] == 201]
        refused = [r for r in records if r[2] == 409 and r[3]]
        elapsed = max(r[0] for r in records) - started
        sold_out_after = max(r[0] for r in placed) - started if placed else float("nan")
        raw_tps_small, raw_lat_small = pgbench_run(url, raw_small.pk, warehouse.pk, per_client=OVERSELL_PER_CLIENT)
        _orders, _units, _held, raw_reserved, _on_hand = _ledger(raw_small, _raw_small_level)
        oversell = {
            "requests": len(records),
            "placed": len(placed),
            "refused": len(refused),
            "statuses": statuses,
            "orders": orders,
            "units": units,
            "held": held,
            "reserved": reserved,
            "on_hand": on_hand,
            "elapsed": elapsed,
            "sold_out_after": sold_out_after,
            "ops": len(records) / elapsed,
            "latency_all": _latency([r[1] for r in records]),
            "latency_placed": _latency([r[1] for r in placed]),
            "latency_refused": _latency([r[1] for r in refused]),
            "raw_tps": raw_tps_small,
            "raw_latency": _latency(raw_lat_small),
            "raw_reserved": raw_reserved,
        }
    finally:
        gunicorn_stop(proc)

    ok = (
        oversell["placed"] == OVERSELL_UNITS
        and oversell["refused"] == oversell["requests"] - OVERSELL_UNITS
        and oversell["orders"] == oversell["units"] == oversell["held"] == oversell["reserved"] == OVERSELL_UNITS
    )
    kind = f"gthread, {workers} workers x {threads} threads" if threads > 1 else f"sync, {workers} workers"
    print(
        f"\nFlash sale over HTTP: {CLIENTS} keep-alive clients ({CLIENT_PROCESSES} processes), one SKU, one unit "
        f"per order (ship), gunicorn {kind}, PostgreSQL, Redis"
    )
    print(f"gunicorn log: {LOG}")
    print(f"{'run':<34} {'ops/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    lat, runs = sustained["latency"], ", ".join(f"{x:.0f}" for x in sustained["runs"])
    print(f"{f'HTTP orders, {SUSTAINED_UNITS:,} units':<34} {sustained['ops']:>8.0f} " + _ms(lat) + f"  ({runs})")
    runs = ", ".join(f"{x:.0f}" for x in sustained["raw_runs"])
    print(
        f"{'pgbench INSERT + UPDATE, same':<34} {sustained['raw_tps']:>8.0f} " + _ms(sustained["raw_latency"]), end=""
    )
    print(f"  ({runs})")
    print(
        f"ratio (HTTP orders/s / pgbench tx/s, medians of {ROUNDS} alternating runs of {length} s): "
        f"{sustained['ops'] / sustained['raw_tps']:.3f}   ledger {'ok' if sustained['consistent'] else 'MISMATCH'}"
        + (f"   other statuses: {sustained['other']}" if sustained["other"] else "")
    )
    print(
        "CPU per placed order: "
        + ", ".join(f"{name} {ms:.1f} ms" for name, ms in sustained["cpu_ms"].items())
        + f" (load average before the run {load[0]:.2f})"
    )
    print(
        f"\nOversell check: {CLIENTS} clients x {OVERSELL_PER_CLIENT} orders on {OVERSELL_UNITS:,} units -> "
        f"statuses {dict(sorted(oversell['statuses'].items()))}; {oversell['placed']} placed, "
        f"{oversell['refused']} refused insufficient_stock; orders={oversell['orders']} units={oversell['units']} "
        f"held={oversell['held']} reserved={oversell['reserved']} on_hand={oversell['on_hand']} "
        f"({'no oversell' if ok else 'OVERSOLD OR MISMATCH'})"
    )
    print(
        f"  sold out after {oversell['sold_out_after']:.2f} s ({OVERSELL_UNITS / oversell['sold_out_after']:.0f} "
        f"orders/s), all {oversell['requests']} answered in {oversell['elapsed']:.2f} s ({oversell['ops']:.0f} req/s)"
    )
    print(f"  {'latency (ms)':<32} {'':>8} {'p50':>8} {'p95':>8} {'p99':>8}")
    print(f"  {'all requests':<32} {'':>8} " + _ms(oversell["latency_all"]))
    print(f"  {'placed (201)':<32} {'':>8} " + _ms(oversell["latency_placed"]))
    print(f"  {'refused (409)':<32} {'':>8} " + _ms(oversell["latency_refused"]))
    print(
        f"  {'pgbench, same 1,600 tx':<32} {oversell['raw_tps']:>8.0f} " + _ms(oversell["raw_latency"]),
        f"(reserved={oversell['raw_reserved']})",
    )
    return {"sustained": sustained, "oversell": oversell, "ok": ok}


def _ms(lat) -> str:
    return " ".join(f"{v:>8.1f}" for v in lat)
