"""Thin Celery tasks over the relay and the webhook sender."""

from celery import shared_task
from django.conf import settings


@shared_task(name="omo.events.tasks.outbox_relay", ignore_result=True, soft_time_limit=60, time_limit=90)
def outbox_relay(partition: int) -> int:
    from omo.core.queue import started
    from omo.events.relay import relay_partition

    started(f"outbox-relay:{partition}")
    return relay_partition(partition)


@shared_task(name="omo.events.tasks.outbox_relay_all", ignore_result=True, expires=5)
def outbox_relay_all() -> None:
    """Beat, every second: wakes a relay for each partition with events waiting (the fallback when a
    wake-up after a commit was lost, e.g. Redis was down)."""
    from omo.events.relay import partitions_waiting
    from omo.events.services import kick_relay

    for partition in partitions_waiting():
        if partition < settings.OUTBOX_PARTITIONS:
            kick_relay(partition)


@shared_task(name="omo.events.tasks.webhooks_send", ignore_result=True, soft_time_limit=60, time_limit=90)
def webhooks_send(subscription_id: int, partition: int) -> int:
    from omo.core.queue import started
    from omo.events.webhooks import send_pending

    started(f"webhook-send:{subscription_id}:{partition}")
    return send_pending(subscription_id, partition)


@shared_task(name="omo.events.tasks.webhooks_send_due", ignore_result=True, expires=20)
def webhooks_send_due() -> None:
    """Beat: wakes a sender for each (subscription, partition) with deliveries due (retries)."""
    from omo.events.webhooks import senders_due, wake_sender

    for subscription_id, partition in senders_due():
        wake_sender(subscription_id, partition)


@shared_task(name="omo.events.tasks.webhook_deliveries_purge", ignore_result=True)
def webhook_deliveries_purge() -> int:
    from omo.events.webhooks import deliveries_purge

    return deliveries_purge()
