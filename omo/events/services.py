"""Writing domain events to the outbox (see models.py), and waking the relay after the commit."""

from __future__ import annotations

import hashlib
import json
import logging

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from omo.core.queue import enqueue_once
from omo.events.models import OutboxEvent

log = logging.getLogger(__name__)


def _plain(payload: dict) -> dict:
    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))


def partition_of(aggregate_type: str, aggregate_id) -> int:
    """The aggregate's partition: stable across processes and computable in SQL too (``PARTITION_SQL``):
    the first 32 bits of the MD5 of ``"<type>:<id>"``, modulo the number of partitions."""
    digest = hashlib.md5(f"{aggregate_type}:{aggregate_id}".encode(), usedforsecurity=False).hexdigest()
    return int(digest[:8], 16) % settings.OUTBOX_PARTITIONS


def partition_sql(key_expression: str) -> str:
    """``partition_of`` in PostgreSQL, over an SQL expression that gives ``"<type>:<id>"``."""
    return f"mod(('x' || substr(md5({key_expression}), 1, 8))::bit(32)::bigint, {settings.OUTBOX_PARTITIONS})"


def event_emit(
    *, event_type: str, aggregate_type: str, aggregate_id, payload: dict | None = None, channel=None
) -> OutboxEvent:
    """Adds an event to the outbox in the caller's transaction (it must be in one: an event outside
    the change's transaction could announce a change that then rolls back). ``channel``: the sales
    channel (or its id) the event belongs to, so only that channel's webhooks receive it."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("event_emit must run inside the transaction of the change it announces")
    partition = partition_of(aggregate_type, aggregate_id)
    event = OutboxEvent.objects.create(
        event_type=event_type,
        aggregate_type=aggregate_type,
        aggregate_id=str(aggregate_id),
        channel_id=getattr(channel, "pk", channel),
        partition=partition,
        payload=_plain(payload or {}),
    )
    kick_after_commit(partition)
    return event


def events_emit_many(events: list[dict]) -> int:
    """``event_emit`` for many events in one insert (a bulk coupon issue): each dict has the keyword
    arguments of ``event_emit``."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("events_emit_many must run inside the transaction of the change it announces")
    rows = [
        OutboxEvent(
            event_type=e["event_type"],
            aggregate_type=e["aggregate_type"],
            aggregate_id=str(e["aggregate_id"]),
            channel_id=getattr(e.get("channel"), "pk", e.get("channel")),
            partition=partition_of(e["aggregate_type"], e["aggregate_id"]),
            payload=_plain(e.get("payload") or {}),
        )
        for e in events
    ]
    OutboxEvent.objects.bulk_create(rows, batch_size=1000)
    for partition in sorted({row.partition for row in rows}):
        kick_after_commit(partition)
    return len(rows)


class _Kick:
    """An on-commit wake-up of one partition's relay; equal ones are registered once per transaction."""

    def __init__(self, partition: int):
        self.partition = partition

    def __eq__(self, other):
        return isinstance(other, _Kick) and other.partition == self.partition

    def __hash__(self):
        return hash(self.partition)

    def __call__(self):
        kick_relay(self.partition)


def kick_after_commit(partition: int) -> None:
    kick = _Kick(partition)
    connection = transaction.get_connection()
    if any(callback == kick for _sids, callback, _robust in connection.run_on_commit):
        return
    transaction.on_commit(kick)


def kick_relay(partition: int) -> None:
    """Asks a worker to relay ``partition`` now (the beat job every second is the fallback). One
    wake-up waits at a time per partition (``enqueue_once``): a relay drains every row committed
    before it looks, and a busy shop would otherwise send one message per sale. A broker that is down
    never fails the change that was just committed: the event waits in the outbox."""
    from omo.events.tasks import outbox_relay

    enqueue_once(outbox_relay, (partition,), key=f"outbox-relay:{partition}")
