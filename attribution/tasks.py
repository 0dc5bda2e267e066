"""Thin Celery tasks over the attribution services (the catch-up and settlement jobs are scheduled in
settings.CELERY_BEAT_SCHEDULE). Each receives primary keys and is safe to run twice."""

from celery import shared_task


@shared_task(name="attribution.tasks.order_attribute", soft_time_limit=60, time_limit=90)
def order_attribute(order_id: int):
    from attribution.services import order_attribute as run
    from orders.models import Order

    result = run(order=Order(pk=order_id))
    return result.rule if result else None


@shared_task(name="attribution.tasks.orders_attribute_pending", soft_time_limit=240, time_limit=300)
def orders_attribute_pending():
    from attribution.services import orders_attribute_pending as run

    return run()


@shared_task(name="attribution.tasks.settlement_build_last_month", soft_time_limit=1800, time_limit=1900)
def settlement_build_last_month():
    from attribution.settlement import settlement_build_last_month as run

    return str(run().month)
