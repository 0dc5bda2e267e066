"""Thin Celery tasks over the marketing services."""

from celery import shared_task


@shared_task(name="marketing.tasks.segments_refresh", ignore_result=True, soft_time_limit=3600, time_limit=3900)
def segments_refresh() -> int:
    from marketing.services import segments_refresh as run

    return run()


@shared_task(name="marketing.tasks.segment_evaluate", ignore_result=True, soft_time_limit=1800, time_limit=1900)
def segment_evaluate(segment_id: int, actor_id: int | None = None) -> None:
    from django.contrib.auth import get_user_model

    from marketing.models import Segment
    from marketing.services import segment_evaluate as run

    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is not None:
        run(segment=segment, actor=get_user_model().objects.filter(pk=actor_id).first() if actor_id else None)


@shared_task(name="marketing.tasks.campaign_send", bind=True, ignore_result=True, soft_time_limit=600, time_limit=660)
def campaign_send(self, campaign_id: int) -> None:
    """Sends a batch, then comes back: after a minute (the campaign's sends per minute), or when the
    quiet hours end. Run eagerly (no worker), it sends batch after batch at once."""
    from django.conf import settings

    from marketing.campaigns import campaign_send_batch
    from marketing.models import Campaign

    campaign = Campaign.objects.filter(pk=campaign_id).first()
    while campaign is not None:
        result = campaign_send_batch(campaign=campaign)
        if result["done"] or (not result["remaining"] and not result["claimed"]):
            return
        if settings.CELERY_TASK_ALWAYS_EAGER:
            if result["wait_until"] is not None:
                return  # no worker to come back later: launch again in the morning, or run a worker
            continue
        if result["wait_until"] is not None:
            self.apply_async((campaign_id,), eta=result["wait_until"])
        else:
            self.apply_async((campaign_id,), countdown=60)
        return
