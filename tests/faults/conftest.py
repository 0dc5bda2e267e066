"""Fault tests: the orders test shop, and a way to kill a database connection from outside, as a
failover, a restarted PostgreSQL or a network cut would."""

import time

import pytest
from django.db import connection

from tests.attribution.conftest import clock, policy  # noqa: F401  the attribution tests' clock and policy
from tests.orders.conftest import fake_gateway, shop  # noqa: F401  the orders tests' small shop


def other_connection():
    """A plain psycopg2 connection to the test database, beside Django's (autocommit)."""
    import psycopg2

    s = connection.settings_dict
    conn = psycopg2.connect(
        dbname=s["NAME"],
        user=s["USER"],
        password=s["PASSWORD"] or None,
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
    )
    conn.autocommit = True
    return conn


def terminate_backend(pid: int) -> None:
    """``pg_terminate_backend(pid)`` from another connection, then waits until that backend is gone."""
    conn = other_connection()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", [pid])
            assert cur.fetchone() == (True,)
            for _ in range(100):
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
                if cur.fetchone() == (0,):
                    return
                time.sleep(0.05)
        raise AssertionError(f"backend {pid} did not go away")
    finally:
        conn.close()


def login(client, user) -> None:
    """Logs ``user`` in on the test client by writing the session itself (no log-in signals: nothing
    else of the log-in machinery is under test here)."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    backends = settings.AUTHENTICATION_BACKENDS
    backend = "django.contrib.auth.backends.ModelBackend"
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = backend if backend in backends else backends[-1]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key


@pytest.fixture
def kill_connection_in(monkeypatch, require_postgres):
    """``kill_connection_in(module, name)``: the next call of ``module.name`` first has this process's
    database connection terminated (mid-transaction, when called inside one), then runs as usual: the
    statement after it meets a dead connection. Returns the list of pids killed."""
    killed = []

    def arm(module, name):
        original = getattr(module, name)

        def hooked(*args, **kwargs):
            if not killed:
                assert connection.in_atomic_block  # between two writes of one transaction
                pid = connection.connection.get_backend_pid()
                killed.append(pid)
                terminate_backend(pid)
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, hooked)
        return killed

    return arm
