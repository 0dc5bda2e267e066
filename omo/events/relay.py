"""The outbox relay: publishes committed events, at least once and in order per aggregate.

One relay per partition at a time (an advisory lease); it claims the oldest unpublished rows with
``FOR UPDATE SKIP LOCKED`` and, in the same transaction, hands them to the consumers inside the back
office (``consumers.py``), writes one webhook delivery per matching subscription and marks them
published. So an event is fanned out exactly once: a worker killed mid-batch rolls the batch back and
the next relay takes it again. After the commit it wakes the webhook senders of the subscriptions it
fed. A consumer that fails holds back its event (and the later events of the same aggregate) with
exponential backoff; after ``OUTBOX_MAX_ATTEMPTS`` the event is dead-lettered for HQ to replay.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from omo.core.locks import advisory_lease
from omo.events import consumers
from omo.events.models import OutboxEvent, WebhookDelivery, WebhookSubscription
from omo.events.services import kick_relay

log = logging.getLogger(__name__)


def backoff(attempts: int, *, base: float, cap: float) -> timedelta:
    """Exponential: base, 2 x base, 4 x base ... capped."""
    return timedelta(seconds=min(base * (2 ** max(attempts - 1, 0)), cap))


def _claimable(partition: int, now):
    failing_before = OutboxEvent.objects.filter(
        aggregate_type=OuterRef("aggregate_type"),
        aggregate_id=OuterRef("aggregate_id"),
        id__lt=OuterRef("id"),
        published_at__isnull=True,
        dead_at__isnull=True,
        attempts__gt=0,
    )
    return (
        OutboxEvent.objects.filter(partition=partition, published_at__isnull=True, dead_at__isnull=True)
        .filter(next_attempt_at__lte=now)
        .exclude(Exists(failing_before))
        .order_by("id")
    )


def relay_partition(partition: int, *, budget_seconds: float = 10.0) -> int:
    """Relays ``partition`` until it is empty or the time budget is spent; returns how many events it
    published. Returns 0 at once if another relay holds the partition (it drains what is there)."""
    published = 0
    deadline = time.monotonic() + budget_seconds
    for _round in range(2):
        with advisory_lease(f"outbox-relay:{partition}") as got:
            if not got:
                return published
            while time.monotonic() < deadline:
                count, full = _relay_batch(partition)
                published += count
                if not full:
                    break
        # an event committed while the lease was being let go could have found it taken: one more look
        if time.monotonic() >= deadline or not _claimable(partition, timezone.now()).exists():
            break
    return published


def _relay_batch(partition: int) -> tuple[int, bool]:
    now = timezone.now()
    touched: set[tuple[int, int]] = set()
    with transaction.atomic():
        events = list(_claimable(partition, now).select_for_update(skip_locked=True)[: settings.OUTBOX_BATCH])
        if not events:
            return 0, False
        failed = _run_consumers(events)
        held = set()  # the aggregates of failed events: their later events wait too
        ok = []
        for event in events:
            key = (event.aggregate_type, event.aggregate_id)
            if event.pk in failed or key in held:
                held.add(key)
                continue
            ok.append(event)
        subscriptions = [s for s in _subscriptions() if s.event_types]
        deliveries = []
        for event in ok:
            for sub in subscriptions:
                if sub.wants(event.event_type, event.channel_id):
                    deliveries.append(
                        WebhookDelivery(subscription_id=sub.pk, event_id=event.pk, partition=partition, created_at=now)
                    )
                    touched.add((sub.pk, partition))
        if deliveries:
            WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        if ok:
            OutboxEvent.objects.filter(pk__in=[e.pk for e in ok]).update(published_at=now)
        published = {e.pk for e in ok}
        for event in events:
            if event.pk in failed:
                _fail(event, failed[event.pk], now)
        held_back = [e.pk for e in events if e.pk not in published and e.pk not in failed]
        if held_back:  # behind a failed event of their aggregate: not an attempt of their own
            OutboxEvent.objects.filter(pk__in=held_back).update(next_attempt_at=now + timedelta(seconds=1))
        if touched:
            transaction.on_commit(lambda: _wake_senders(touched))
    return len(ok), len(events) >= settings.OUTBOX_BATCH


def _subscriptions() -> list[WebhookSubscription]:
    """Every subscription, paused and disabled ones too: their deliveries wait until they are on again."""
    return list(WebhookSubscription.objects.only("pk", "channel_id", "event_types"))


def _run_consumers(events: list[OutboxEvent]) -> dict[int, str]:
    """Runs the registered consumers; returns the events that failed, with the error. All of the batch
    runs in one savepoint; if anything fails it is rolled back and the events are run one by one (each
    with every handler, in its own savepoint), skipping the later events of a failed one's aggregate,
    so whatever a consumer wrote stays exactly when its event is marked published."""
    wanted = [event for event in events if consumers.handlers_for(event.event_type)]
    if not wanted:
        return {}
    try:
        with transaction.atomic():
            by_type: dict[str, list[OutboxEvent]] = defaultdict(list)
            for event in wanted:
                by_type[event.event_type].append(event)
            for event_type, batch in by_type.items():
                for handler in consumers.handlers_for(event_type):
                    handler(batch)
        return {}
    except Exception:
        log.warning("outbox consumers failed on a batch of %s events; running them one by one", len(wanted))
    failed: dict[int, str] = {}
    held: set[tuple[str, str]] = set()
    for event in wanted:
        key = (event.aggregate_type, event.aggregate_id)
        if key in held:
            continue
        handler = None
        try:
            with transaction.atomic():
                for handler in consumers.handlers_for(event.event_type):
                    handler([event])
        except Exception as error:
            log.exception("outbox consumer %s failed on event %s", getattr(handler, "__qualname__", "?"), event.pk)
            failed[event.pk] = f"{getattr(handler, '__qualname__', '?')}: {type(error).__name__}: {error}"[:1000]
            held.add(key)
    return failed


def _fail(event: OutboxEvent, error: str, now) -> None:
    attempts = event.attempts + 1
    fields = {"attempts": attempts, "last_error": error}
    if attempts >= settings.OUTBOX_MAX_ATTEMPTS:
        fields["dead_at"] = now
    else:
        fields["next_attempt_at"] = now + backoff(
            attempts, base=settings.WEBHOOK_BACKOFF_SECONDS, cap=settings.WEBHOOK_BACKOFF_MAX_SECONDS
        )
    OutboxEvent.objects.filter(pk=event.pk).update(**fields)


def _wake_senders(touched) -> None:
    from omo.events.webhooks import wake_sender

    for subscription_id, partition in sorted(touched):
        wake_sender(subscription_id, partition)


def partitions_waiting(now=None) -> list[int]:
    """The partitions with events to relay now (for the beat job)."""
    now = now or timezone.now()
    rows = (
        OutboxEvent.objects.filter(published_at__isnull=True, dead_at__isnull=True, next_attempt_at__lte=now)
        .values_list("partition", flat=True)
        .distinct()
    )
    return sorted(set(rows))


def event_replay(*, event: OutboxEvent, actor) -> OutboxEvent:
    """Puts a dead-lettered event back in the queue (attempts reset), recording who and when. Only dead
    events: a published one has its deliveries, which are replayed one by one."""
    from omo.core.errors import ConflictError
    from omo.org.access import ensure_permission

    ensure_permission(actor, "events.change_outboxevent")
    with transaction.atomic():
        event = OutboxEvent.objects.select_for_update().get(pk=event.pk)
        if event.dead_at is None:
            raise ConflictError(_("Only a dead-lettered event can be replayed."), code="event_not_dead")
        event.dead_at, event.attempts, event.next_attempt_at = None, 0, timezone.now()
        event.replayed_at, event.replayed_by = timezone.now(), actor
        event.save(update_fields=["dead_at", "attempts", "next_attempt_at", "replayed_at", "replayed_by"])
        partition = event.partition
        transaction.on_commit(lambda: kick_relay(partition))
    return event
