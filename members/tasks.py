"""Thin Celery tasks over the members services (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task
from django.db import OperationalError


@shared_task(name="members.tasks.points_expire_due", soft_time_limit=1800, time_limit=1900)
def points_expire_due():
    from members.services import points_expire_due as run

    return run()


@shared_task(name="members.tasks.tiers_reevaluate_due", soft_time_limit=1800, time_limit=1900)
def tiers_reevaluate_due():
    from members.loyalty import tiers_reevaluate_due as run

    return run()


@shared_task(name="members.tasks.duplicates_find", soft_time_limit=1800, time_limit=1900)
def duplicates_find():
    from members.merging import duplicates_find as run

    return run()


@shared_task(
    name="members.tasks.coupon_issue_job_run",
    soft_time_limit=3600,
    time_limit=3700,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def coupon_issue_job_run(job_id: int):
    from members.coupons import coupon_issue_job_run as run

    return run(job_id=job_id).issued


@shared_task(name="members.tasks.coupon_issue_jobs_sweep", ignore_result=True, soft_time_limit=50, time_limit=55)
def coupon_issue_jobs_sweep():
    """Every minute: queues again the coupon issue jobs whose task never started."""
    from members.coupons import coupon_issue_jobs_waiting
    from omo.core.queue import enqueue

    for job_id in coupon_issue_jobs_waiting():
        enqueue(coupon_issue_job_run, (job_id,))
