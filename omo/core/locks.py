"""Transaction-scoped PostgreSQL advisory locks: serialise work on something that has no row to lock
yet (the log-in codes of one phone, the coupon issue of one campaign, the nightly replenishment run)."""

from __future__ import annotations

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
