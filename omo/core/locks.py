"""Transaction-scoped PostgreSQL advisory locks: serialise work on something that has no row to lock
yet (the log-in codes of one phone, the coupon issue of one campaign, the nightly replenishment run)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


def advisory_xact_lock(key: str) -> None:
    """Waits for, then holds until the end of the current transaction, the lock named ``key``. A
    no-op on SQLite, which runs one writer at a time anyway."""
    if connection.vendor != "postgresql":
        return
    if not connection.in_atomic_block:
        raise RuntimeError("advisory_xact_lock needs a transaction")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [key])


@contextmanager
def advisory_lease(key: str) -> Iterator[bool]:
    """Tries, without waiting, to hold the lock named ``key`` for the block, across the transactions
    inside it; yields whether it got it. For one runner at a time of a loop that commits as it goes
    (the outbox relay of a partition). A process that dies loses its connection and with it the lock.
    Always True on SQLite (one writer at a time anyway)."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [key])
        got = cursor.fetchone()[0]
    try:
        yield got
    finally:
        if got:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [key])
