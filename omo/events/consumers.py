"""Consumers inside the back office that the outbox relay feeds (beside the webhook subscriptions).

An app registers a handler for an event type in its ``AppConfig.ready``. The relay calls each handler
with the batch of that type's events (in id order) inside the transaction that marks them published,
so a handler's writes happen exactly once per event: if the handler fails, the batch is retried and
nothing of it stays. Handlers must be quick (mark something to do; let a task do the heavy work).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

Handler = Callable[[list], None]
_HANDLERS: dict[str, list[Handler]] = defaultdict(list)


def register(event_type: str, handler: Handler) -> None:
    if handler not in _HANDLERS[event_type]:
        _HANDLERS[event_type].append(handler)


def handlers_for(event_type: str) -> list[Handler]:
    return _HANDLERS.get(event_type, [])
