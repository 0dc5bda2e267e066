"""Who and what made a change: the context that the audit triggers store beside each event.

``pghistory.context`` prefixes every write statement with ``SELECT set_config(...)``, which only
PostgreSQL understands; on SQLite (development without DATABASE_URL) there are no triggers to read it,
so every helper here does nothing there.
"""

from __future__ import annotations

import contextlib

import pghistory
from django.db import connection
from pghistory import runtime


def is_recording() -> bool:
    """True on PostgreSQL, where the triggers record the audit trail."""
    return connection.vendor == "postgresql"


def in_context() -> bool:
    """True while a ``pghistory.context`` is open in this thread."""
    return hasattr(runtime._tracker, "value")


@contextlib.contextmanager
def audit_context(**metadata):
    """Tags every change made inside with ``metadata`` (``user``, ``url``, ``job``, ``command`` ...).

    Inside an open context the metadata is added to it (one context per request or job)."""
    if not is_recording():
        yield
        return
    with pghistory.context(**metadata):
        yield
