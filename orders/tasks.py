"""Thin Celery tasks over the orders services (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task


@shared_task(name="orders.tasks.orders_cancel_unpaid", soft_time_limit=240, time_limit=300)
def orders_cancel_unpaid():
    from orders.services import orders_cancel_unpaid as run

    return run()


@shared_task(name="orders.tasks.pickups_expire", soft_time_limit=1800, time_limit=1900)
def pickups_expire():
    from orders.services import pickups_expire as run

    return run()


@shared_task(name="orders.tasks.refunds_retry", soft_time_limit=240, time_limit=300)
def refunds_retry():
    from orders.services import refunds_retry as run

    return run()


@shared_task(name="orders.tasks.idempotency_keys_purge", soft_time_limit=600, time_limit=700)
def idempotency_keys_purge():
    from omo.core.idempotency import idempotency_keys_purge as run

    return run()
