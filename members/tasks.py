"""Thin Celery tasks over the members services (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task


@shared_task(name="members.tasks.points_expire_due", soft_time_limit=1800, time_limit=1900)
def points_expire_due():
    from members.services import points_expire_due as run

    return run()
