"""Thin Celery tasks over the dashboard's services."""

from celery import shared_task


@shared_task(name="omo.dashboard.tasks.rollup_catch_up", ignore_result=True, soft_time_limit=3600, time_limit=3900)
def rollup_catch_up() -> int:
    from omo.dashboard.services import rollup_catch_up as run

    return run()
