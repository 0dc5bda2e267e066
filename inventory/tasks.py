"""Thin Celery tasks over the inventory services (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task


@shared_task(name="inventory.tasks.reservations_expire", soft_time_limit=120, time_limit=180)
def reservations_expire():
    from inventory.services import reservations_expire as run

    return run()


@shared_task(name="inventory.tasks.lots_write_off_expired", soft_time_limit=600, time_limit=660)
def lots_write_off_expired():
    from inventory.services import lots_write_off_expired as run

    return len(run())


@shared_task(name="inventory.tasks.replenishment_suggest", soft_time_limit=600, time_limit=660)
def replenishment_suggest():
    from inventory.services import replenishment_suggest as run

    return [transfer.pk for transfer in run()]


@shared_task(
    name="inventory.tasks.stock_feeds_flush", ignore_result=True, expires=10, soft_time_limit=60, time_limit=90
)
def stock_feeds_flush():
    """Beat, every second, and woken after a stock change: the channels' new sellable quantities."""
    from inventory.feeds import stock_feeds_flush as run

    return run()


@shared_task(name="inventory.tasks.stock_feeds_reconcile", soft_time_limit=1800, time_limit=1900)
def stock_feeds_reconcile():
    from inventory.feeds import stock_feeds_reconcile as run

    return run().pk


@shared_task(name="inventory.tasks.stock_feed_republish", ignore_result=True, soft_time_limit=600, time_limit=660)
def stock_feed_republish(channel_id: int):
    from inventory.feeds import stock_feed_republish as run
    from omo.org.models import SalesChannel

    channel = SalesChannel.objects.filter(pk=channel_id).first()
    return run(channel=channel) if channel is not None else 0
