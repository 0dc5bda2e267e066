"""Background jobs of the organisation layer (thin: the work is in ``services``)."""

from celery import shared_task


@shared_task(name="omo.org.tasks.staff_login_logs_purge", soft_time_limit=600, time_limit=660)
def staff_login_logs_purge():
    from omo.org.services import staff_login_logs_purge as run

    return run()
