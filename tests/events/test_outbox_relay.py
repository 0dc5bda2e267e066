"""The outbox relay and the webhook sender, in-process: fan-out, signatures, order per aggregate,
backoff, dead letters and replay, disabling a failing endpoint."""

from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from omo.events import consumers, relay, signing, webhooks
from omo.events.models import OutboxEvent, WebhookAttempt, WebhookDelivery, WebhookSubscription
from omo.events.services import event_emit, partition_of
from tests.events.conftest import relay_all, send_all


def emit(event_type="order.paid", aggregate="A-1", channel=None, **payload):
    return event_emit(event_type=event_type, aggregate_type="order", aggregate_id=aggregate, payload=payload,
                      channel=channel)  # fmt: skip


def test_an_event_exists_only_when_its_change_committed(django_db_serialized_rollback, transactional_db, web):
    with pytest.raises(RuntimeError):
        emit()  # outside any transaction: refused
    with pytest.raises(ValueError), transaction.atomic():
        emit(channel=web)
        raise ValueError("the change fails after its event was written")
    assert OutboxEvent.objects.count() == 0


def test_events_reach_the_subscriptions_that_want_them_signed_and_logged(db, web, app_channel, subscribe, receiver):
    paid_only = subscribe(web, ["order.paid"], name="paid")
    everything_app = webhooks.subscription_create(channel=app_channel, name="app", url=receiver.url,
                                                  event_types=["*"])  # fmt: skip
    mine = emit("order.paid", "W-1", channel=web, total="990")
    emit("order.completed", "W-1", channel=web)  # not asked for
    emit("order.paid", "A-1", channel=app_channel)  # another channel's order
    member_event = event_emit(event_type="points.changed", aggregate_type="member", aggregate_id="M1", payload={})

    assert relay_all() == 4
    assert set(WebhookDelivery.objects.filter(subscription=paid_only).values_list("event_id", flat=True)) == {mine.pk}
    # a channel's events go to that channel only; events of every channel go to all that ask
    assert WebhookDelivery.objects.filter(subscription=everything_app).count() == 2
    assert WebhookDelivery.objects.filter(subscription=everything_app, event=member_event).exists()

    assert send_all(paid_only) == 1
    body = receiver.events[str(mine.pk)]
    assert body["type"] == "order.paid" and body["data"] == {"total": "990"}
    assert body["aggregate"] == {"type": "order", "id": "W-1"}
    assert receiver.refused == []  # the signature checked out
    delivery = WebhookDelivery.objects.get(subscription=paid_only)
    assert delivery.status == "delivered" and delivery.response_status == 200
    assert delivery.response_ms is not None and delivery.delivered_at is not None
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 0


def test_a_receiver_with_another_secret_refuses_and_the_delivery_is_retried(db, web, subscribe, receiver):
    sub = subscribe(web)
    receiver.secret = "whsec_not_the_one"
    emit(channel=web)
    relay_all()
    assert send_all(sub) == 0
    assert receiver.refused == ["signature_invalid"]
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.attempts == 1 and delivery.response_status == 401
    assert WebhookAttempt.objects.filter(delivery=delivery, response_status=401).count() == 1


def test_signing_round_trip_and_refusals():
    body = b'{"a":1}'
    headers = signing.sign_headers("s3cret", body, now=1_000_000)
    signing.verify("s3cret", body, timestamp=headers[signing.TIMESTAMP_HEADER],
                   signature_header=headers[signing.SIGNATURE_HEADER], now=1_000_100)  # fmt: skip
    cases = [
        ("other", body, 1_000_100, "signature_invalid"),
        ("s3cret", b'{"a":2}', 1_000_100, "signature_invalid"),
        ("s3cret", body, 1_000_000 + 301, "signature_expired"),
    ]
    for secret, sent, now, code in cases:
        with pytest.raises(signing.BadSignature) as caught:
            signing.verify(secret, sent, timestamp=headers[signing.TIMESTAMP_HEADER],
                           signature_header=headers[signing.SIGNATURE_HEADER], now=now)  # fmt: skip
        assert caught.value.code == code
    with pytest.raises(signing.BadSignature) as caught:
        signing.verify("s3cret", body, timestamp=None, signature_header=None)
    assert caught.value.code == "signature_missing"


@override_settings(WEBHOOK_BACKOFF_SECONDS=10, WEBHOOK_MAX_ATTEMPTS=4)
def test_a_failing_delivery_backs_off_holds_its_aggregate_and_is_dead_lettered_then_replayed(
    db, web, subscribe, receiver, hq_admin
):
    sub = subscribe(web)
    first = emit("order.paid", "W-1", channel=web)
    second = emit("order.completed", "W-1", channel=web)  # same order: must not overtake the first
    other = emit("order.paid", "W-2", channel=web)
    assert partition_of("order", "W-1") is not None
    failing = {str(first.pk)}
    receiver.behave = lambda event_id, attempt: 503 if event_id in failing else None
    relay_all()

    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        send_all(sub)
        assert set(receiver.events) == {str(other.pk)}  # the other order went on
        d1 = WebhookDelivery.objects.get(event=first)
        assert d1.attempts == 1 and d1.next_attempt_at == start + timedelta(seconds=10)
        assert WebhookDelivery.objects.get(event=second).attempts == 0  # held, not tried
        # backoff doubles: 10 s, 20 s, 40 s
        for attempts, wait in ((2, 20), (3, 40)):
            clock.shift(timedelta(seconds=3600))
            send_all(sub)
            d1.refresh_from_db()
            assert d1.attempts == attempts
            assert d1.next_attempt_at == timezone.now() + timedelta(seconds=wait)
        clock.shift(timedelta(seconds=3600))
        send_all(sub)  # the 4th attempt fails: dead-lettered, the next event of the order goes out
        d1.refresh_from_db()
        assert d1.status == "dead" and d1.attempts == 4
        assert receiver.order == [str(other.pk), str(second.pk)]
        assert WebhookAttempt.objects.filter(delivery=d1).count() == 4

    failing.clear()
    webhooks.delivery_replay(delivery=d1, actor=hq_admin)
    d1.refresh_from_db()
    assert d1.status == "pending" and d1.replayed_by == hq_admin and d1.replayed_at is not None
    send_all(sub)
    d1.refresh_from_db()
    assert d1.status == "delivered" and str(first.pk) in receiver.events
    with pytest.raises(Exception) as refused:
        webhooks.delivery_replay(delivery=d1, actor=hq_admin)
    assert getattr(refused.value, "code", None) == "delivery_not_dead"


@override_settings(WEBHOOK_DISABLE_AFTER=3, WEBHOOK_BACKOFF_SECONDS=0)
def test_an_endpoint_that_keeps_failing_is_disabled_hq_is_told_and_enabling_sends_what_waited(
    db, web, subscribe, receiver, hq_admin, client
):
    sub = subscribe(web)
    receiver.behave = lambda event_id, attempt: 500
    events = [emit("order.paid", f"W-{i}", channel=web) for i in range(5)]
    relay_all()
    send_all(sub)
    sub.refresh_from_db()
    assert sub.disabled_at is not None and "3 failed deliveries in a row" in sub.disabled_reason
    tried = sum(receiver.attempts.values())
    assert tried == 3  # it stopped at the limit
    send_all(sub)
    assert sum(receiver.attempts.values()) == tried  # a disabled endpoint is not called
    client.force_login(hq_admin)
    page = client.get(reverse("admin:index")).content.decode()
    assert "was disabled" in page and sub.name in page

    receiver.behave = None
    webhooks.subscription_enable(subscription=sub, actor=hq_admin)
    send_all(sub)
    assert set(receiver.events) == {str(e.pk) for e in events}
    sub.refresh_from_db()
    assert sub.consecutive_failures == 0 and sub.disabled_at is None
    assert "was disabled" not in client.get(reverse("admin:index")).content.decode()


def test_410_gone_disables_at_once(db, web, subscribe, receiver):
    sub = subscribe(web)
    receiver.behave = lambda event_id, attempt: 410
    emit(channel=web)
    relay_all()
    send_all(sub)
    sub.refresh_from_db()
    assert sub.disabled_at is not None and "410" in sub.disabled_reason


def test_no_answer_is_a_failure_too(db, web, subscribe):
    sub = subscribe(web, url="http://127.0.0.1:9/nothing-listens-here")
    emit(channel=web)
    relay_all()
    send_all(sub)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.response_status is None and delivery.last_error


@override_settings(OUTBOX_MAX_ATTEMPTS=2, WEBHOOK_BACKOFF_SECONDS=10)
def test_a_failing_consumer_holds_its_event_and_aggregate_then_dead_letters_it_for_replay(db, hq_admin):
    calls = []
    broken = {"on": True}

    def consumer(events):
        for event in events:
            if broken["on"] and event.payload.get("poison"):
                raise ValueError("cannot handle this one")
            calls.append(event.pk)

    consumers.register("test.thing", consumer)
    try:
        poison = event_emit(event_type="test.thing", aggregate_type="thing", aggregate_id="1", payload={"poison": 1})
        after = event_emit(event_type="test.thing", aggregate_type="thing", aggregate_id="1", payload={})
        fine = event_emit(event_type="test.thing", aggregate_type="thing", aggregate_id="2", payload={})
        start = timezone.now()
        with time_machine.travel(start, tick=False) as clock:
            relay_all()
            assert calls == [fine.pk]  # the healthy aggregate went through, once
            poison.refresh_from_db()
            after.refresh_from_db()
            assert poison.attempts == 1 and "cannot handle" in poison.last_error and poison.published_at is None
            assert after.published_at is None and after.attempts == 0  # waits behind it
            clock.shift(timedelta(seconds=5))
            relay_all()
            assert calls == [fine.pk]  # still backing off
            clock.shift(timedelta(seconds=60))
            relay_all()
            poison.refresh_from_db()
            assert poison.dead_at is not None and poison.attempts == 2
            clock.shift(timedelta(seconds=5))
            relay_all()
            assert calls == [fine.pk, after.pk]  # the dead one no longer holds the aggregate
        broken["on"] = False
        relay.event_replay(event=poison, actor=hq_admin)
        relay_all()
        poison.refresh_from_db()
        assert calls[-1] == poison.pk and poison.published_at is not None and poison.replayed_by == hq_admin
    finally:
        consumers._HANDLERS.pop("test.thing", None)


def test_the_admin_lists_the_queue_and_replays(db, web, subscribe, hq_admin, client):
    sub = subscribe(web)
    emit(channel=web)
    relay_all()
    client.force_login(hq_admin)
    for name in ("outboxevent", "webhooksubscription", "webhookdelivery"):
        assert client.get(reverse(f"admin:events_{name}_changelist")).status_code == 200
    assert client.get(reverse("admin:events_webhooksubscription_change", args=[sub.pk])).status_code == 200
    response = client.post(
        reverse("admin:events_webhooksubscription_add"),
        {"channel": web.pk, "name": "partner", "url": "https://partner.example/hook", "event_types": '["order.*"]',
         "is_active": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    made = WebhookSubscription.objects.get(name="partner")
    assert made.secret.startswith("whsec_") and made.created_by == hq_admin and made.event_types == ["order.*"]
    bad = client.post(
        reverse("admin:events_webhooksubscription_add"),
        {"channel": web.pk, "name": "bad", "url": "https://x.example/h", "event_types": "[1]", "is_active": "on"},
    )
    assert bad.status_code == 200 and "List the event types" in bad.content.decode()
    assert not WebhookSubscription.objects.filter(name="bad").exists()


def test_subscription_patterns():
    sub = WebhookSubscription(channel_id=1, event_types=["order.*", "points.changed"])
    assert sub.wants("order.paid", 1) and sub.wants("points.changed", None)
    assert not sub.wants("order.paid", 2) and not sub.wants("member.created", None)
    assert not sub.wants("orders.x", 1)


@pytest.mark.postgres
def test_concurrent_relays_publish_each_event_once(
    django_db_serialized_rollback, transactional_db, require_postgres, web, subscribe, monkeypatch
):
    """Four relays at once over the same partitions (real connections): every event fanned out once."""
    import threading

    monkeypatch.setattr("omo.events.services.kick_relay", lambda partition: None)  # the threads relay

    from django.conf import settings
    from django.db import connection

    sub = subscribe(web)
    WebhookSubscription.objects.filter(pk=sub.pk).update(is_active=False)  # count deliveries, send nothing
    with override_settings(OUTBOX_BATCH=7):
        with transaction.atomic():
            for i in range(200):
                emit("order.paid", f"W-{i % 23}", channel=web, i=i)
        published = []

        def run():
            try:
                for p in range(settings.OUTBOX_PARTITIONS):
                    published.append(relay.relay_partition(p))
            finally:
                connection.close()

        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sum(published) == 200
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 0
    assert WebhookDelivery.objects.filter(subscription=sub).count() == 200


@pytest.mark.postgres
def test_postgresql_computes_the_same_partition_as_python(require_postgres):
    """The one-statement order insert computes its event's partition in SQL: it must match."""
    from django.db import connection

    from omo.events.services import partition_sql

    keys = [f"WEB-{n}" for n in range(0, 5000, 97)] + ["POS-S-A-1", "訂單-1", ""]
    with connection.cursor() as cursor:
        for key in keys:
            cursor.execute("SELECT " + partition_sql("'order:' || %s"), [key])
            assert cursor.fetchone()[0] == partition_of("order", key), key


def test_editing_a_subscription_in_the_admin_goes_through_the_service(db, web, subscribe, hq_admin, client):
    sub = subscribe(web, ["order.paid"])
    client.force_login(hq_admin)
    url = reverse("admin:events_webhooksubscription_change", args=[sub.pk])
    form = {"name": "renamed", "url": "https://partner.example/h", "event_types": '["stock.*", "order.paid"]'}
    assert client.post(url, {**form, "is_active": "on"}).status_code == 302
    sub.refresh_from_db()
    assert sub.name == "renamed" and sub.event_types == ["order.paid", "stock.*"] and sub.is_active
    client.post(url, form)  # unticked: paused
    sub.refresh_from_db()
    assert not sub.is_active
    refused = client.post(url, {**form, "url": "ftp://partner.example/h", "is_active": "on"})
    assert refused.status_code == 200 and "must start with https://" in refused.content.decode()
    sub.refresh_from_db()
    assert sub.url == "https://partner.example/h" and not sub.is_active  # nothing changed
