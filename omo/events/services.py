"""Writing domain events to the outbox (see models.py)."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from omo.events.models import OutboxEvent


def _plain(payload: dict) -> dict:
    import json

    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))


def event_emit(*, event_type: str, aggregate_type: str, aggregate_id, payload: dict | None = None) -> OutboxEvent:
    """Adds an event to the outbox in the caller's transaction (it must be in one: an event outside
    the change's transaction could announce a change that then rolls back)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("event_emit must run inside the transaction of the change it announces")
    return OutboxEvent.objects.create(
        event_type=event_type,
        aggregate_type=aggregate_type,
        aggregate_id=str(aggregate_id),
        payload=_plain(payload or {}),
    )
