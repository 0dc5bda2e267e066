"""Webhooks: subscriptions per channel, and the sender that delivers their events.

One sender per (subscription, partition) at a time (an advisory lease), sending the pending deliveries
in event order. A delivery that fails (no answer, a timeout, anything but 2xx) is retried with
exponential backoff, and the later events of the same aggregate wait behind it, so a receiver never
sees an order's ``order.completed`` before its ``order.paid``; other aggregates go on. After
``WEBHOOK_MAX_ATTEMPTS`` a delivery is dead-lettered (the admin lists them, with replay). After
``WEBHOOK_DISABLE_AFTER`` failures in a row the subscription is disabled and HQ sees it on the admin's
front page; its deliveries wait until it is enabled again. A 410 Gone disables it at once.

Each request is signed (``signing.py``) and carries the event id, which receivers deduplicate on:
delivery is at least once (a worker killed after the receiver answered sends that event again).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import urllib3
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from omo.core.errors import BusinessRuleError, ConflictError
from omo.core.locks import advisory_lease
from omo.core.queue import enqueue_once
from omo.events import signing
from omo.events.models import OutboxEvent, WebhookAttempt, WebhookDelivery, WebhookSubscription
from omo.events.relay import backoff
from omo.org.access import ensure_permission

log = logging.getLogger(__name__)
SEND_BATCH = 100

# --- subscriptions --------------------------------------------------------------------------------


def _event_types(raw) -> list[str]:
    if isinstance(raw, str):
        raw = [part.strip() for part in raw.split(",")]
    if not isinstance(raw, list) or not raw or not all(isinstance(t, str) and t.strip() for t in raw):
        raise BusinessRuleError(
            _('List the event types, e.g. ["order.paid", "stock.*"] or ["*"].'), code="invalid_event_types"
        )
    return sorted({t.strip() for t in raw})


def clean_url(url: str) -> str:
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise BusinessRuleError(_("The URL must start with https:// (or http://)."), code="invalid_url")
    return url


def clean_event_types(raw) -> list[str]:
    return _event_types(raw)


def subscription_create(*, channel, name: str, url: str, event_types, actor=None) -> WebhookSubscription:
    """A new subscription with a fresh signing secret (shown to whoever created it)."""
    if actor is not None:
        ensure_permission(actor, "events.add_webhooksubscription")
    clean_url(url)
    with transaction.atomic():
        return WebhookSubscription.objects.create(
            channel=channel,
            name=name[:100] or url[:100],
            url=url,
            secret=signing.new_secret(),
            event_types=_event_types(event_types),
            created_by=actor if getattr(actor, "pk", None) else None,
        )


def subscription_update(*, subscription: WebhookSubscription, actor=None, **changes) -> WebhookSubscription:
    """Changes the name, URL, event types or ``is_active``; turning it on also lifts a disable after
    failures (and sends what waited), turning it off pauses it."""
    if actor is not None:
        ensure_permission(actor, "events.change_webhooksubscription")
    if "url" in changes:
        clean_url(changes["url"])
    if "event_types" in changes:
        changes["event_types"] = _event_types(changes["event_types"])
    unknown = set(changes) - {"name", "url", "event_types", "is_active"}
    if unknown:
        raise ValueError(f"subscription_update cannot change {sorted(unknown)}")
    turn_on = changes.pop("is_active", None)
    if (turn_on is True and subscription.deliverable) or (turn_on is False and not subscription.is_active):
        turn_on = None  # already so
    with transaction.atomic():
        for name, value in changes.items():
            setattr(subscription, name, value)
        if changes:
            subscription.save(update_fields=list(changes))
    if turn_on is True:
        return subscription_enable(subscription=subscription, actor=actor)
    if turn_on is False:
        return subscription_pause(subscription=subscription, actor=actor)
    return subscription


def subscription_rotate_secret(*, subscription: WebhookSubscription, actor=None) -> WebhookSubscription:
    if actor is not None:
        ensure_permission(actor, "events.change_webhooksubscription")
    with transaction.atomic():
        subscription.secret = signing.new_secret()
        subscription.save(update_fields=["secret"])
    log.info("webhook subscription %s: secret rotated by %s", subscription.pk, getattr(actor, "pk", None))
    return subscription


def subscription_enable(*, subscription: WebhookSubscription, actor=None) -> WebhookSubscription:
    """Turns a disabled (or paused) subscription back on; its waiting deliveries are sent now."""
    if actor is not None:
        ensure_permission(actor, "events.change_webhooksubscription")
    with transaction.atomic():
        WebhookSubscription.objects.filter(pk=subscription.pk).update(
            is_active=True, disabled_at=None, disabled_reason="", consecutive_failures=0
        )
        WebhookDelivery.objects.filter(subscription=subscription, status=WebhookDelivery.Status.PENDING).update(
            next_attempt_at=timezone.now()
        )
        transaction.on_commit(lambda: wake_all(subscription.pk))
    subscription.refresh_from_db()
    return subscription


def subscription_pause(*, subscription: WebhookSubscription, actor=None) -> WebhookSubscription:
    """Stops sending (events still queue up for it and go out when it is enabled again)."""
    if actor is not None:
        ensure_permission(actor, "events.change_webhooksubscription")
    with transaction.atomic():
        WebhookSubscription.objects.filter(pk=subscription.pk).update(is_active=False)
    subscription.refresh_from_db()
    return subscription


def delivery_replay(*, delivery: WebhookDelivery, actor) -> WebhookDelivery:
    """Sends a dead-lettered delivery again (attempts reset), recording who and when."""
    ensure_permission(actor, "events.change_webhookdelivery")
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        if delivery.status != WebhookDelivery.Status.DEAD:
            raise ConflictError(_("Only a dead-lettered delivery can be replayed."), code="delivery_not_dead")
        now = timezone.now()
        delivery.status, delivery.attempts, delivery.next_attempt_at = WebhookDelivery.Status.PENDING, 0, now
        delivery.replayed_at, delivery.replayed_by = now, actor
        delivery.save(update_fields=["status", "attempts", "next_attempt_at", "replayed_at", "replayed_by"])
        key = (delivery.subscription_id, delivery.partition)
        transaction.on_commit(lambda: wake_sender(*key))
    return delivery


# --- waking senders -------------------------------------------------------------------------------


def wake_sender(subscription_id: int, partition: int) -> None:
    """Asks a worker to send this (subscription, partition)'s pending deliveries (one wake-up waits at a
    time; the beat job is the fallback)."""
    from omo.events.tasks import webhooks_send

    enqueue_once(webhooks_send, (subscription_id, partition), key=f"webhook-send:{subscription_id}:{partition}")


def wake_all(subscription_id: int) -> None:
    for partition in range(settings.OUTBOX_PARTITIONS):
        wake_sender(subscription_id, partition)


def senders_due(now=None) -> list[tuple[int, int]]:
    """(subscription, partition) pairs with deliveries due now, of subscriptions that may send."""
    now = now or timezone.now()
    return sorted(
        set(
            WebhookDelivery.objects.filter(
                status=WebhookDelivery.Status.PENDING,
                next_attempt_at__lte=now,
                subscription__is_active=True,
                subscription__disabled_at__isnull=True,
            ).values_list("subscription_id", "partition")
        )
    )


# --- sending --------------------------------------------------------------------------------------

_pool: urllib3.PoolManager | None = None


def _http() -> urllib3.PoolManager:
    global _pool
    if _pool is None:  # made in the worker process (after the fork), kept for its keep-alive connections
        _pool = urllib3.PoolManager(num_pools=50, maxsize=2, retries=False)
    return _pool


def body_of(event: OutboxEvent) -> bytes:
    return json.dumps(
        {
            "id": str(event.pk),
            "type": event.event_type,
            "created_at": event.created_at,
            "aggregate": {"type": event.aggregate_type, "id": event.aggregate_id},
            "data": event.payload,
        },
        cls=DjangoJSONEncoder,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def _post(subscription: WebhookSubscription, event: OutboxEvent) -> tuple[int | None, int, str]:
    """Sends one event; returns (HTTP status or None, milliseconds, error)."""
    body = body_of(event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "omo-webhooks/1",
        signing.EVENT_ID_HEADER: str(event.pk),
        signing.EVENT_TYPE_HEADER: event.event_type,
        **signing.sign_headers(subscription.secret, body),
    }
    started = time.perf_counter()
    try:
        response = _http().request(
            "POST",
            subscription.url,
            body=body,
            headers=headers,
            timeout=urllib3.Timeout(connect=2.0, read=float(settings.WEBHOOK_TIMEOUT_SECONDS)),
            redirect=False,
            preload_content=True,
        )
    except Exception as error:  # no answer: refused, reset, timed out
        return None, round((time.perf_counter() - started) * 1000), f"{type(error).__name__}: {error}"[:300]
    ms = round((time.perf_counter() - started) * 1000)
    if 200 <= response.status < 300:
        return response.status, ms, ""
    return response.status, ms, f"HTTP {response.status}: {response.data[:200].decode(errors='replace')}"[:300]


def send_pending(subscription_id: int, partition: int, *, budget_seconds: float = 20.0) -> int:
    """Sends what is due for one (subscription, partition), in event order; returns how many were
    delivered. Returns at once if another sender holds this pair."""
    delivered = 0
    deadline = time.monotonic() + budget_seconds
    for _round in range(2):
        with advisory_lease(f"webhook-send:{subscription_id}:{partition}") as got:
            if not got:
                return delivered
            while time.monotonic() < deadline:
                count, more = _send_batch(subscription_id, partition)
                delivered += count
                if not more:
                    break
        # a delivery written while the lease was being let go could have found it taken: one more look
        if time.monotonic() >= deadline or not _due(subscription_id, partition).exists():
            break
    return delivered


def _due(subscription_id: int, partition: int):
    return WebhookDelivery.objects.filter(
        subscription_id=subscription_id,
        partition=partition,
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at__lte=timezone.now(),
        subscription__is_active=True,
        subscription__disabled_at__isnull=True,
    )


def _send_batch(subscription_id: int, partition: int) -> tuple[int, bool]:
    """One pass over up to SEND_BATCH pending deliveries; (delivered, whether to go on)."""
    subscription = WebhookSubscription.objects.filter(pk=subscription_id).first()
    if subscription is None or not subscription.deliverable:
        return 0, False
    pending = list(
        WebhookDelivery.objects.filter(
            subscription_id=subscription_id, partition=partition, status=WebhookDelivery.Status.PENDING
        )
        .select_related("event")
        .order_by("event_id")[:SEND_BATCH]
    )
    now = timezone.now()
    held: set[tuple[str, str]] = set()
    done: list[WebhookDelivery] = []
    failures = 0
    for delivery in pending:
        event = delivery.event
        key = (event.aggregate_type, event.aggregate_id)
        if key in held:
            continue
        if delivery.next_attempt_at > now:  # backing off: its aggregate's later events wait for it
            held.add(key)
            continue
        status, ms, error = _post(subscription, event)
        if not error:
            delivery.status, delivery.delivered_at = WebhookDelivery.Status.DELIVERED, timezone.now()
            delivery.response_status, delivery.response_ms, delivery.attempts = status, ms, delivery.attempts + 1
            done.append(delivery)
            if len(done) >= 25:  # record as it goes: a crash re-sends at most this many
                _record_delivered(done, subscription)
                done = []
            continue
        failures += 1
        held.add(key)
        _record_failure(delivery, status, ms, error)
        if _count_failure(subscription, status, error):
            break  # disabled: stop here
    _record_delivered(done, subscription)
    progressed = bool(done) or len(pending) >= SEND_BATCH
    return len(done), progressed and failures == 0 and len(pending) >= SEND_BATCH


def _record_delivered(done: list[WebhookDelivery], subscription: WebhookSubscription) -> None:
    if not done:
        return
    if connection.vendor == "postgresql":  # one UPDATE joined to the values (bulk_update's CASEs cost more)
        table = WebhookDelivery._meta.db_table
        rows = ", ".join(["(%s, %s, %s, %s::timestamptz)"] * len(done))
        params = [v for d in done for v in (d.pk, d.response_status, d.response_ms, d.delivered_at)]
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS d SET status = %s, attempts = d.attempts + 1, "  # noqa: S608
                "response_status = v.status::smallint, response_ms = v.ms::integer, delivered_at = v.at "
                f"FROM (VALUES {rows}) AS v(id, status, ms, at) WHERE d.id = v.id::bigint",
                [WebhookDelivery.Status.DELIVERED, *params],
            )
    else:
        WebhookDelivery.objects.bulk_update(
            done, ["status", "delivered_at", "response_status", "response_ms", "attempts"], batch_size=100
        )
    if subscription.consecutive_failures:
        WebhookSubscription.objects.filter(pk=subscription.pk).update(consecutive_failures=0)
        subscription.consecutive_failures = 0


def _record_failure(delivery: WebhookDelivery, status, ms, error) -> None:
    now = timezone.now()
    attempts = delivery.attempts + 1
    fields = {"attempts": attempts, "response_status": status, "response_ms": ms, "last_error": error}
    if attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        fields["status"] = WebhookDelivery.Status.DEAD
    else:
        fields["next_attempt_at"] = now + backoff(
            attempts, base=settings.WEBHOOK_BACKOFF_SECONDS, cap=settings.WEBHOOK_BACKOFF_MAX_SECONDS
        )
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
        WebhookAttempt.objects.create(delivery=delivery, at=now, response_status=status, response_ms=ms, error=error)


def _count_failure(subscription: WebhookSubscription, status, error) -> bool:
    """Counts a failure in a row; disables the subscription at the limit (or at once on 410 Gone).
    Returns whether it is now disabled."""
    WebhookSubscription.objects.filter(pk=subscription.pk).update(consecutive_failures=F("consecutive_failures") + 1)
    subscription.refresh_from_db(fields=["consecutive_failures", "disabled_at"])
    reason = ""
    if status == 410:
        reason = _("The endpoint answered 410 Gone.")
    elif subscription.consecutive_failures >= settings.WEBHOOK_DISABLE_AFTER:
        reason = _("%(n)s failed deliveries in a row; last: %(error)s") % {
            "n": subscription.consecutive_failures,
            "error": error[:150],
        }
    if reason and subscription.disabled_at is None:
        # conditional: senders of other partitions may get here at the same time; the first one's
        # reason stays
        if WebhookSubscription.objects.filter(pk=subscription.pk, disabled_at__isnull=True).update(
            disabled_at=timezone.now(), disabled_reason=reason[:300]
        ):
            log.warning("webhook subscription %s disabled: %s", subscription.pk, reason)
        return True
    return subscription.disabled_at is not None


def deliveries_purge(*, older_than_days: int = 30) -> int:
    """Deletes delivered deliveries (and their attempts) older than that; dead ones stay for HQ."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    count, _detail = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.DELIVERED, delivered_at__lt=cutoff
    ).delete()
    return count
