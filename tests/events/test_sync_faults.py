"""Faults with a real Celery worker, a real beat, a real Redis and PostgreSQL: a worker killed in the
middle of a delivery, Redis stopped while orders are placed, a process that dies between its commit and
waking the relay. Each ends with every event delivered at a deduplicating receiver, none lost."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager

import pytest
import redis
from django.db import transaction

from omo.events import webhooks
from omo.events.models import OutboxEvent, WebhookDelivery
from omo.events.receiver import WebhookReceiver
from omo.events.services import event_emit
from tests.conftest import ROOT, database_url_for_subprocess, free_port
from tests.factories import SalesChannelFactory

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


class RedisServer:
    """A Redis of the test's own on a fixed port, which the test stops and starts again."""

    def __init__(self):
        self.binary = shutil.which("redis-server")
        if not self.binary:
            pytest.skip("needs the redis-server program")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Stack:
    """A worker and a beat process on a queue of their own, using the test database and ``redis_url``;
    the test process sends its tasks there too (not eagerly)."""

    def __init__(self, redis_url: str, tmp_path):
        self.redis_url = redis_url
        self.queue = f"omo-sync-{uuid.uuid4().hex[:8]}"
        self.tmp = tmp_path
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "omo.settings",
            "DATABASE_URL": database_url_for_subprocess(),
            "REDIS_URL": redis_url,
            "CELERY_QUEUE": self.queue,
            "DB_CONN_MAX_AGE": "0",
            "WEBHOOK_BACKOFF_SECONDS": "1",
        }
        self.worker = self.beat = None
        self.starts = 0
        self.supervising = False

    def _spawn(self, args, name):
        log = (self.tmp / f"{name}.log").open("a")
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "omo", *args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed whole
        )

    def start_worker(self):
        self.starts += 1
        self.worker = self._spawn(
            ["worker", "--pool=prefork", "--concurrency=2", f"--queues={self.queue}",
             f"--hostname={self.queue}-{self.starts}@%h", "--without-gossip", "--without-mingle",
             "--loglevel=INFO"],
            "worker",
        )  # fmt: skip

    def start_beat(self):
        self.beat = self._spawn(
            ["beat", f"--schedule={self.tmp / 'beat-schedule'}", "--loglevel=INFO"],
            "beat",
        )

    def supervise(self):
        """Restarts the worker and beat when they exit, as docker-compose's ``restart: unless-stopped``
        does: a worker whose broker vanishes can die of it ("Unrecoverable error" in kombu's Redis
        transport while acknowledging on a lost connection)."""
        self.restarts = 0
        self.supervising = True

        def loop():
            while self.supervising:
                for name in ("worker", "beat"):
                    proc = getattr(self, name)
                    if proc is not None and proc.poll() is not None:
                        self.restarts += 1
                        (self.start_worker if name == "worker" else self.start_beat)()
                time.sleep(0.5)

        threading.Thread(target=loop, daemon=True).start()

    def kill_worker(self):
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(10)

    def stop(self):
        self.supervising = False
        time.sleep(0.6)
        for proc in (self.worker, self.beat):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.tmp.glob("*.log")))


@contextmanager
def broker(url: str, queue: str):
    """Points this process's Celery app at ``url`` and ``queue``, not eager, for the block."""
    from django.conf import settings

    from omo.celery import app

    saved = app.conf.broker_url, app.conf.task_always_eager, app.conf.task_default_queue
    saved_queue = settings.CELERY_TASK_DEFAULT_QUEUE

    def reset_pools():
        app._pool = None
        app.amqp._producer_pool = None

    app.conf.broker_url, app.conf.task_always_eager, app.conf.task_default_queue = url, False, queue
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    reset_pools()
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.task_always_eager, app.conf.task_default_queue = saved
        settings.CELERY_TASK_DEFAULT_QUEUE = saved_queue
        reset_pools()


@pytest.fixture
def stack(redis_url, require_postgres, django_db_serialized_rollback, transactional_db, tmp_path):
    stacks = []

    def make(url=None):
        s = Stack(url or redis_url, tmp_path)
        stacks.append(s)
        return s

    yield make
    for s in stacks:
        s.stop()


def emit_orders(channel, numbers):
    ids = []
    for number in numbers:
        with transaction.atomic():
            for event_type in ("order.created", "order.paid", "order.completed"):
                ids.append(
                    event_emit(
                        event_type=event_type,
                        aggregate_type="order",
                        aggregate_id=number,
                        channel=channel,
                        payload={"number": number},
                    ).pk
                )
    return ids


def assert_all_delivered_once(receiver: WebhookReceiver, ids: list[int], stack: Stack, *, timeout=60):
    assert receiver.wait_for(len(ids), timeout=timeout), (
        f"{len(receiver.events)} of {len(ids)} events arrived\n{stack.logs()}"
    )
    time.sleep(0.5)  # anything late and duplicate would show now
    assert set(receiver.events) == {str(i) for i in ids}  # every event, nothing else
    for aggregate, seen in receiver.by_aggregate.items():  # in order per aggregate
        assert seen == sorted(seen), aggregate
    assert not WebhookDelivery.objects.exclude(status="delivered").exists()
    assert not OutboxEvent.objects.filter(published_at__isnull=True).exists()


def test_a_worker_killed_mid_delivery_loses_nothing(stack, tmp_path):
    channel = SalesChannelFactory(code="WEB", kind="web")
    hung = threading.Event()
    first_try_of = {}

    def behave(event_id, attempt):
        if attempt == 1 and not first_try_of:
            first_try_of[event_id] = True
            hung.set()
            time.sleep(20)  # the worker is killed while it waits for this answer
            return 503
        return None

    with WebhookReceiver(behave=behave) as receiver:
        sub = webhooks.subscription_create(channel=channel, name="t", url=receiver.url, event_types=["*"])
        receiver.secret = sub.secret
        s = stack()
        with broker(s.redis_url, s.queue):
            s.start_worker()
            s.start_beat()
            ids = emit_orders(channel, [f"K-{i}" for i in range(10)])
            assert hung.wait(60), s.logs()
            s.kill_worker()
            more = emit_orders(channel, [f"K-{i}" for i in range(10, 15)])  # while no worker runs
            s.start_worker()
            assert_all_delivered_once(receiver, ids + more, s)
        (hung_id,) = first_try_of
        assert receiver.attempts[hung_id] >= 2  # sent again after the kill, accepted once


def test_redis_down_while_orders_are_placed_loses_nothing(stack, tmp_path):
    channel = SalesChannelFactory(code="WEB", kind="web")
    server = RedisServer()
    server.start()
    try:
        with WebhookReceiver() as receiver:
            sub = webhooks.subscription_create(channel=channel, name="t", url=receiver.url, event_types=["order.*"])
            receiver.secret = sub.secret
            s = stack(server.url)
            with broker(s.redis_url, s.queue):
                s.start_worker()
                s.start_beat()
                s.supervise()
                before = emit_orders(channel, [f"R-{i}" for i in range(5)])
                assert receiver.wait_for(len(before), timeout=60), s.logs()
                server.stop()
                started = time.monotonic()
                during = emit_orders(channel, [f"R-{i}" for i in range(5, 25)])  # commits: Redis is not needed
                assert time.monotonic() - started < 10  # a wake-up that fails costs no waiting
                assert OutboxEvent.objects.filter(pk__in=during, published_at__isnull=True).count() == len(during)
                time.sleep(1)
                server.start()
                assert_all_delivered_once(receiver, before + during, s, timeout=90)
    finally:
        server.stop()


def test_a_crash_between_commit_and_publish_loses_nothing(stack, tmp_path):
    channel = SalesChannelFactory(code="WEB", kind="web")
    with WebhookReceiver() as receiver:
        sub = webhooks.subscription_create(channel=channel, name="t", url=receiver.url, event_types=["*"])
        receiver.secret = sub.secret
        s = stack()
        with broker(s.redis_url, s.queue):
            s.start_worker()
            s.start_beat()
            script = (
                "import os, django; django.setup()\n"
                "from django.db import transaction\n"
                "from omo.events.services import event_emit\n"
                "with transaction.atomic():\n"
                "    transaction.on_commit(lambda: os._exit(3))  # dies after the commit, before the wake-up\n"
                f"    e = event_emit(event_type='order.paid', aggregate_type='order', aggregate_id='C-1', "
                f"channel={channel.pk}, payload={{}})\n"
                "    print(e.pk, flush=True)\n"
            )
            done = subprocess.run(
                [sys.executable, "-c", script], cwd=ROOT, env=s.env, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 3, done.stderr
            event_id = int(done.stdout.split()[0])
            assert OutboxEvent.objects.filter(pk=event_id).exists()  # committed, though nobody was told
            assert_all_delivered_once(receiver, [event_id], s)
