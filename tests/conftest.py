"""Shared fixtures: staff of each role, API clients, and the real services (PostgreSQL, Redis, a
Celery worker process) for the tests that need them.

A test that needs a service it cannot find is skipped with the reason, except under CI=true, where
every skip is turned into a failure: CI must run everything.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.db import connection
from rest_framework.test import APIClient

from omo.org.roles import Role
from tests.factories import StoreFactory, WarehouseFactory, make_staff

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"Skipped in CI, where nothing may skip: {reason}"


# --- the real services ---------------------------------------------------------------------------


@pytest.fixture
def require_postgres(db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://... (SQLite hides locking bugs)")


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("REDIS_URL", "")
    if not url:
        pytest.skip("needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at REDIS_URL does not answer: {exc}")
    return url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def scratch_redis():
    """A Redis server of the test's own on a free port, which the test may stop: ``(url, stop)``."""
    binary = shutil.which("redis-server")
    if not binary:
        pytest.skip("needs the redis-server program")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    for _ in range(50):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.1)

    def stop():
        proc.terminate()
        proc.wait(10)

    yield url, stop
    if proc.poll() is None:
        stop()


def database_url_for_subprocess() -> str:
    """The URL of the database this test session uses (the test database), for a worker process."""
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def live_worker(redis_url, require_postgres, django_db_serialized_rollback, transactional_db, settings, tmp_path):
    """A real ``celery worker`` process on its own queue, using the test database and the real Redis.

    Tasks sent while it runs are no longer eager: they travel through Redis to the worker.
    """
    from omo.celery import app

    queue = f"omo-test-{uuid.uuid4().hex[:10]}"
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "omo.settings",
        "DATABASE_URL": database_url_for_subprocess(),
        "REDIS_URL": redis_url,
        "CELERY_QUEUE": queue,
        "DB_CONN_MAX_AGE": "0",
    }
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "omo",
                "worker",
                "--pool=solo",
                f"--queues={queue}",
                f"--hostname={queue}@%h",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    saved = app.conf.task_always_eager, app.conf.task_default_queue
    app.conf.task_always_eager = False
    app.conf.task_default_queue = queue  # so a plain .delay() from the code under test reaches it
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    try:
        from omo.core.tasks import ping

        ping.apply_async(queue=queue).get(timeout=60)  # waits until the worker is up
        yield queue
    except Exception:
        pytest.fail(f"the Celery worker did not start:\n{log.read_text()[-3000:]}")
    finally:
        app.conf.task_always_eager, app.conf.task_default_queue = saved
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(autouse=True)
def fresh_config_cache():
    """Each test starts with an empty per-process config cache (database rows are reused across tests)."""
    from omo.core.config_cache import clear

    clear()
    yield
    clear()


# --- people and places -----------------------------------------------------------------------------


@pytest.fixture
def warehouse(db):
    return WarehouseFactory(code="WH-T1", name="Test warehouse")


@pytest.fixture
def store_a(warehouse):
    return StoreFactory(code="S-A", name="Store A", supplying_warehouse=warehouse)


@pytest.fixture
def store_b(warehouse):
    return StoreFactory(code="S-B", name="Store B", supplying_warehouse=warehouse)


@pytest.fixture
def hq_admin(db):
    return make_staff(Role.HQ_ADMIN, username="hq.admin").user


@pytest.fixture
def clerk_a(store_a):
    return make_staff(Role.CLERK, store=store_a, username="a.clerk").user


@pytest.fixture
def manager_a(store_a):
    return make_staff(Role.STORE_MANAGER, store=store_a, username="a.manager").user


@pytest.fixture
def clerk_b(store_b):
    return make_staff(Role.CLERK, store=store_b, username="b.clerk").user


@pytest.fixture
def manager_b(store_b):
    return make_staff(Role.STORE_MANAGER, store=store_b, username="b.manager").user


@pytest.fixture
def api():
    """An API client; ``api.force_authenticate(user)`` or ``api.credentials(HTTP_X_API_KEY=key)``."""
    return APIClient()


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client
