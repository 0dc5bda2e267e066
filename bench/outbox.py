"""Outbox relay and webhooks against raw Celery, with a real worker, Redis and PostgreSQL.

One worker process pool (``--concurrency`` = CPU cores, prefork, on a queue of its own) serves every run;
a signature-checking, deduplicating receiver (``omo.events.receiver``) listens in a process of its own.

- raw Celery: N ``delay()`` calls of a task that only counts itself in Redis, as fast as this process
  can send them; the rate is N over the time until the worker has run all N.
- outbox throughput: N events already committed in the outbox (written in batches, nobody woken), one
  webhook subscription; one wake-up per partition, then the rate is N over the time until the receiver
  has every event (relayed: claimed, fanned out and marked published; then sent over HTTP, signed,
  and recorded as delivered). Ratio = outbox rate / raw Celery rate (goal: at least 0.7).
- steady 500 events/s (``BENCH_OUTBOX_RATE``): ``BENCH_OUTBOX_PRODUCERS`` processes (2, as web workers)
  take turns to commit 5 events, one commit every 10 ms in all, each commit waking the relay as the
  application does (one wake-up waiting per partition);
  lag = the receiver's first good answer minus the event's ``created_at``. p50/p99 (goal: p99
  under 1 s), and whether every event arrived exactly once.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
ROOT = Path(__file__).resolve().parent.parent
LOG = Path(tempfile.gettempdir()) / "omo-bench-worker.log"
N = int(os.environ.get("BENCH_OUTBOX_EVENTS", "20000"))
RATE = int(os.environ.get("BENCH_OUTBOX_RATE", "500"))  # events/s of the steady run, in steps of 100
STEADY_SECONDS = 20.0
PRODUCERS = int(os.environ.get("BENCH_OUTBOX_PRODUCERS", "2"))  # processes sharing the steady rate


def _receiver_main(conn) -> None:
    """The receiver's own process (a partner's server is not inside the back office either)."""
    from omo.events.receiver import WebhookReceiver

    with WebhookReceiver() as receiver:
        conn.send(receiver.url)
        while True:
            command, arg = conn.recv()
            if command == "secret":
                receiver.secret = arg
                conn.send(None)
            elif command == "count":
                conn.send(len(receiver.events))
            elif command == "snapshot":
                with receiver.lock:
                    conn.send((dict(receiver.received_at), dict(receiver.attempts)))
            else:
                conn.send(None)
                return


class RemoteReceiver:
    def __init__(self):
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.proc = context.Process(target=_receiver_main, args=(child,), daemon=True)
        self.proc.start()
        self.url = self.conn.recv()

    def ask(self, command, arg=None):
        self.conn.send((command, arg))
        return self.conn.recv()

    def count(self) -> int:
        return self.ask("count")

    def snapshot(self) -> tuple[dict, dict]:
        return self.ask("snapshot")

    def stop(self):
        self.ask("stop")
        self.proc.join(10)


def _worker(url: str, queue: str, concurrency: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": REDIS_URL,
        "CELERY_QUEUE": queue,
        "DB_CONN_MAX_AGE": "60",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "omo.settings",
    }
    with open(LOG, "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "omo", "worker", "--pool=prefork", f"--concurrency={concurrency}",
             f"--queues={queue}", f"--hostname={queue}@%h", "--without-gossip", "--without-mingle",
             "--loglevel=WARNING"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _wait(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


def _raw_celery(client, n: int) -> float:
    from omo.core.tasks import noop_count

    key = f"bench:noop:{uuid.uuid4().hex}"
    started = time.perf_counter()
    for _ in range(n):
        noop_count.delay(key)
    sent = time.perf_counter() - started
    if not _wait(lambda: int(client.get(key) or 0) >= n, 300):
        raise SystemExit(f"the worker ran {client.get(key)} of {n} no-op tasks; see {LOG}")
    elapsed = time.perf_counter() - started
    print(f"  raw Celery: {n:,} delay() in {sent:.2f} s, all run after {elapsed:.2f} s")
    return n / elapsed


def _emit_quietly(channel, count: int, *, prefix: str) -> list[int]:
    """``count`` committed events, nobody woken (as after a crash, or a backlog)."""
    from django.db import transaction

    from omo.events import services

    saved = services.kick_relay
    services.kick_relay = lambda partition: None
    try:
        ids = []
        for start in range(0, count, 1000):
            with transaction.atomic():
                rows = [
                    {"event_type": "order.paid", "aggregate_type": "order", "aggregate_id": f"{prefix}-{i % 5000}",
                     "channel": channel, "payload": {"n": i}}
                    for i in range(start, min(start + 1000, count))
                ]  # fmt: skip
                services.events_emit_many(rows)
        from omo.events.models import OutboxEvent

        ids = list(OutboxEvent.objects.filter(aggregate_id__startswith=f"{prefix}-").values_list("pk", flat=True))
        return ids
    finally:
        services.kick_relay = saved


def _outbox_throughput(channel, receiver, n: int) -> tuple[float, float]:
    from django.conf import settings

    from omo.events.models import OutboxEvent
    from omo.events.tasks import outbox_relay

    ids = _emit_quietly(channel, n, prefix=f"T{uuid.uuid4().hex[:6]}")
    before = receiver.count()
    started = time.perf_counter()
    for partition in range(settings.OUTBOX_PARTITIONS):
        outbox_relay.delay(partition)
    relayed = None
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if relayed is None and not OutboxEvent.objects.filter(published_at__isnull=True).exists():
            relayed = time.perf_counter() - started
        if receiver.count() - before >= len(ids):
            break
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    if receiver.count() - before < len(ids):
        raise SystemExit(f"only {receiver.count() - before} of {len(ids)} events arrived; see {LOG}")
    relayed = relayed or elapsed
    print(f"  outbox: {len(ids):,} events relayed after {relayed:.2f} s, all delivered after {elapsed:.2f} s")
    return len(ids) / relayed, len(ids) / elapsed


def _producer_main(conn, channel_id: int, number: int, producers: int, seconds: float) -> None:
    """One producer process (as one web worker of several): commits ``RATE // 100`` events every
    ``producers`` x 10 ms, each commit waking the relay as the application does."""
    import django

    django.setup()
    from django.db import transaction

    from omo.events.services import event_emit

    per_tick, tick = max(RATE // 100, 1), 0.01 * producers
    created: dict[str, float] = {}
    conn.recv()  # all producers start together
    started = time.perf_counter()
    next_at = time.monotonic() + tick * number / producers  # interleaved
    i = number
    while time.perf_counter() - started < seconds:
        pause = next_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        with transaction.atomic():
            for _ in range(per_tick):
                e = event_emit(event_type="order.paid", aggregate_type="order", aggregate_id=f"S-{i % 2000}",
                               channel=channel_id, payload={"n": i})  # fmt: skip
                created[str(e.pk)] = e.created_at.timestamp()
                i += producers
        next_at += tick
    conn.send((created, time.perf_counter() - started))


def _steady(channel, receiver, seconds: float) -> dict:
    context = multiprocessing.get_context("spawn")
    producers = PRODUCERS
    pipes, procs = [], []
    for number in range(producers):
        parent, child = context.Pipe()
        proc = context.Process(target=_producer_main, args=(child, channel.pk, number, producers, seconds))
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    time.sleep(3)  # django.setup() in each
    for pipe in pipes:
        pipe.send("go")
    created: dict[str, float] = {}
    produced_in = 0.0
    for pipe, proc in zip(pipes, procs, strict=True):
        part, elapsed = pipe.recv()
        created.update(part)
        produced_in = max(produced_in, elapsed)
        proc.join(10)
    ids = sorted(created, key=int)
    _wait(lambda: all(x in receiver.snapshot()[0] for x in ids[-20:]), 60)
    time.sleep(2)
    received_at, attempts = receiver.snapshot()
    missing = [x for x in ids if x not in received_at]
    lags = sorted(received_at[x] - created[x] for x in ids if x in received_at)
    q = statistics.quantiles(lags, n=100) if len(lags) > 1 else [0] * 99
    return {
        "events": len(ids),
        "rate": len(ids) / produced_in,
        "producers": producers,
        "missing": len(missing),
        "duplicates": sum(attempts[x] - 1 for x in ids if attempts.get(x, 0) > 1),
        "p50": q[49],
        "p99": q[98],
        "max": lags[-1] if lags else 0,
    }


def run(url: str, *, n: int = N, seconds: float = STEADY_SECONDS) -> None:
    import redis
    from django.conf import settings

    from omo.celery import app
    from omo.events import webhooks
    from omo.org.models import SalesChannel

    if not settings.REDIS_URL:
        raise SystemExit("bench outbox needs Redis (BENCH_REDIS_URL)")
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    queue = f"bench-outbox-{uuid.uuid4().hex[:6]}"
    os.environ["CELERY_QUEUE"] = queue  # the producer processes send their wake-ups there too
    app.conf.task_default_queue = queue
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    cores = os.cpu_count() or 2
    channel = SalesChannel.objects.create(code="WEB", name="Web shop", kind=SalesChannel.Kind.WEB)
    worker = _worker(url, queue, cores)
    try:
        from omo.core.tasks import ping

        ping.apply_async(queue=queue).get(timeout=60)
        receiver = RemoteReceiver()
        try:
            sub = webhooks.subscription_create(channel=channel, name="bench", url=receiver.url, event_types=["*"])
            receiver.ask("secret", sub.secret)
            print(f"outbox bench: {cores} worker processes, {settings.OUTBOX_PARTITIONS} partitions, "
                  f"batch {settings.OUTBOX_BATCH}")  # fmt: skip
            _raw_celery(client, 2000)  # warm-up of both paths
            _outbox_throughput(channel, receiver, 2000)
            raw = _raw_celery(client, n)
            relayed, delivered = _outbox_throughput(channel, receiver, n)
            steady = _steady(channel, receiver, seconds)
        finally:
            receiver.stop()
    finally:
        _stop(worker)
    print()
    print("| measure | result |")
    print("|---|---|")
    print(f"| raw Celery `delay()` of a no-op task, run by the worker | {raw:,.0f} tasks/s |")
    print(f"| outbox relayed (claimed, fanned out, marked published) | {relayed:,.0f} events/s |")
    print(f"| outbox end to end (relayed, sent signed over HTTP, recorded) | {delivered:,.0f} events/s |")
    print(f"| **ratio end to end / raw Celery** (goal >= 0.7) | **{delivered / raw:.2f}** |")
    print(f"| ratio relayed / raw Celery | {relayed / raw:.2f} |")
    print(f"| steady load: events produced (asked {RATE}/s) | {steady['events']:,} at {steady['rate']:,.0f}/s "
          f"for {seconds:.0f} s, {steady['producers']} producer processes |")  # fmt: skip
    print(f"| steady load: lag p50 / p99 / max (goal p99 < 1 s) | {steady['p50'] * 1000:,.0f} / "
          f"{steady['p99'] * 1000:,.0f} / {steady['max'] * 1000:,.0f} ms |")  # fmt: skip
    print(f"| steady load: missing / sent twice | {steady['missing']} / {steady['duplicates']} |")
