"""A Celery worker killed (SIGKILL) in the middle of the monthly settlement build or the nightly points
expiry: running the job again gives exactly what a clean run gives: no duplicate ledger entries,
balances equal to their ledgers, the same settlement lines and fingerprint.

A real worker process (``tests/faults/slow_worker.py``) stops inside the task at a chosen point and
says so with a marker file; the test kills its process group there, checks what the dead run left
(only whole transactions), runs the job again on a new worker, and compares with a clean run of the
same job on the same data (made first inside a transaction that is rolled back)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from attribution import settlement
from attribution.models import SettlementLine, SettlementPeriod
from members import services as member_services
from members.models import Member, PointsEntry, PointsLot
from tests.attribution.conftest import DAY0, counter_sale
from tests.conftest import ROOT, database_url_for_subprocess
from tests.factories import points_books

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


class Worker:
    """A worker process of its own (process group) on the queue ``queue``, stopping at ``hook``."""

    def __init__(self, redis_url, queue, tmp_path, hook="", now=None):
        self.marker = tmp_path / f"stalled-{uuid.uuid4().hex[:6]}"
        self.log = tmp_path / "worker.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "omo.settings",
            "DATABASE_URL": database_url_for_subprocess(),
            "REDIS_URL": redis_url,
            "CELERY_QUEUE": queue,
            "DB_CONN_MAX_AGE": "0",
            "FAULT_HOOK": hook,
            "FAULT_MARKER": str(self.marker),
            "FAULT_NOW": now.isoformat() if now else "",
        }
        with self.log.open("a") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.faults.slow_worker", "--pool=solo", f"--queues={queue}",
                 f"--hostname={queue}-{uuid.uuid4().hex[:4]}@%h", "--without-gossip", "--without-mingle",
                 "--loglevel=INFO"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def wait_stalled(self, timeout=60):
        deadline = time.monotonic() + timeout
        while not self.marker.exists():
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"the task did not reach the hook\n{self.log.read_text()[-3000:]}"
            time.sleep(0.1)

    def kill(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


@pytest.fixture
def workers(redis_url, require_postgres, django_db_serialized_rollback, transactional_db, settings, tmp_path):
    """``workers(hook="", now=None)`` starts a worker (its clock at ``now``); tasks sent with
    ``workers.send(name)`` go to it (not eagerly)."""
    from omo.celery import app

    queue = f"omo-faults-{uuid.uuid4().hex[:8]}"
    started: list[Worker] = []
    saved = app.conf.task_always_eager
    app.conf.task_always_eager = False

    def start(hook="", now=None):
        worker = Worker(redis_url, queue, tmp_path, hook, now)
        started.append(worker)
        return worker

    def send(name):
        return app.send_task(name, queue=queue)

    start.send = send
    try:
        yield start
    finally:
        app.conf.task_always_eager = saved
        for worker in started:
            worker.stop()


def rolled_back(job):
    """What ``job()`` gives on the current data, in a transaction that is then rolled back."""
    with transaction.atomic():
        result = job()
        transaction.set_rollback(True)
    return result


# --- points expiry -----------------------------------------------------------------------------------


def points_state() -> list[tuple]:
    """Per member: balance (checked against the ledger and the lots), and the ledger's entries."""
    return [
        (
            m.pk,
            points_books(m),
            sorted(PointsEntry.objects.filter(member=m).values_list("kind", "points", "reference")),
            sorted(PointsLot.objects.filter(member=m).values_list("earned", "remaining", "expires_on")),
        )
        for m in Member.objects.order_by("pk")
    ]  # fmt: skip


def expire_snapshot():
    member_services.points_expire_due()
    return points_state()


def test_a_worker_killed_during_points_expiry(shop, workers):
    today = timezone.localdate()
    for i in range(6):
        member = member_services.member_register(phone=f"09123456{i:02d}", name=f"會員{i}").member
        member_services.points_earn(member=member, points=100 + i, reference=f"OLD-{i}", expires_on=today)
        later = today + timedelta(days=300)
        member_services.points_earn(member=member, points=50, reference=f"NEW-{i}", expires_on=later)
    PointsLot.objects.filter(expires_on=today).update(expires_on=today - timedelta(days=1))  # a day passes
    clean = rolled_back(expire_snapshot)
    # the shop's member, then ours: a clean run expires every old lot, once
    assert [row[1] for row in clean] == [0] + [50] * 6
    before = points_state()

    worker = workers("points:3")
    workers.send("members.tasks.points_expire_due")
    worker.wait_stalled()  # inside the third member's transaction; two are committed
    worker.kill()

    after_kill = points_state()
    expired = [row for row in after_kill if any(kind == "expire" for kind, _p, _r in row[2])]
    assert len(expired) == 2 and after_kill[:3] == clean[:3] and after_kill[3:] == before[3:]  # whole members only

    workers()  # a new worker; the beat (or an operator) sends the job again
    assert workers.send("members.tasks.points_expire_due").get(timeout=60) == sum(100 + i for i in range(2, 6))
    assert points_state() == clean
    assert workers.send("members.tasks.points_expire_due").get(timeout=60) == 0  # and again: nothing more
    assert points_state() == clean
    assert PointsEntry.objects.filter(kind="expire").count() == 6


# --- settlement ----------------------------------------------------------------------------------------

BUILD_DAY = DAY0 + timedelta(days=45)  # the next month has begun and the lock-up has passed


def month():
    return DAY0.date().replace(day=1)


def settlement_state():
    period = SettlementPeriod.objects.get(month=month())
    lines = sorted(
        SettlementLine.objects.filter(period=period).values_list(
            "store_id", "clerk_id", "lines", "base", "commission", "adjustments", "payable"
        )
    )
    return period.fingerprint, lines


def build_snapshot():
    settlement.settlement_build_last_month()
    return settlement_state()


def test_a_worker_killed_while_the_settlement_draft_is_rebuilt(shop, policy, clock, workers, clerk_a, clerk_b):
    policy()
    clock(1)
    counter_sale(shop, clerk_a, shop.store_a, shop.member, lines=[("CAP-M", 1)])
    counter_sale(shop, clerk_b, shop.store_b, None, lines=[("JEANS-M", 1)])
    clock(45)
    first = build_snapshot()  # last month's draft, as the job built it last night
    assert [row[2:] for row in first[1]] == [
        (1, Decimal("300.00"), Decimal("15.00"), Decimal("0.00"), Decimal("15.00")),
        (1, Decimal("1200.00"), Decimal("60.00"), Decimal("0.00"), Decimal("60.00")),
    ]
    clock(2)
    counter_sale(shop, clerk_a, shop.store_a, shop.member, lines=[("TEE-M", 2)])  # came in since
    clock(45)
    clean = rolled_back(build_snapshot)
    assert clean != first and [row[2] for row in clean[1]] == [2, 1]

    worker = workers("settlement", now=BUILD_DAY)
    workers.send("attribution.tasks.settlement_build_last_month")
    worker.wait_stalled()  # the old lines deleted and the new ones written, not committed
    worker.kill()

    assert settlement_state() == first  # the dead run left last night's draft whole

    workers(now=BUILD_DAY)
    assert workers.send("attribution.tasks.settlement_build_last_month").get(timeout=60) == str(month())
    assert settlement_state() == clean
    built_at = SettlementPeriod.objects.get(month=month()).built_at
    workers.send("attribution.tasks.settlement_build_last_month").get(timeout=60)  # once more: unchanged
    assert settlement_state() == clean
    assert SettlementPeriod.objects.get(month=month()).built_at == built_at
    assert SettlementLine.objects.count() == 2
