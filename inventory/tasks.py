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
