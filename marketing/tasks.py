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
    """Sends batches while this minute's allowance lasts, then comes back when it renews (a short
    countdown). Quiet hours end without a delayed message: the minute sweep wakes the campaign again,
    so a lost message or a dead worker only delays it. Run eagerly (no worker), it stops at the first
    wait."""
    from datetime import timedelta

    from django.utils import timezone

    from marketing.campaigns import campaign_send_batch
    from marketing.models import Campaign
    from omo.core.queue import enqueue

    campaign = Campaign.objects.filter(pk=campaign_id).first()
    while campaign is not None:
        result = campaign_send_batch(campaign=campaign)
        if result["done"] or not result["remaining"]:
            return
        wait = result["wait_until"]
        if wait is None:
            if result["claimed"]:
                continue
            return  # the waiting members are being taken by another worker right now
        if not self.app.conf.task_always_eager and wait - timezone.now() <= timedelta(seconds=70):
            enqueue(self, (campaign_id,), eta=wait)  # a broker that is down: the minute sweep catches up
        return


@shared_task(name="marketing.tasks.campaigns_sweep", ignore_result=True, soft_time_limit=50, time_limit=55)
def campaigns_sweep() -> None:
    """Every minute: wakes every campaign still sending (see ``marketing.campaigns.campaigns_sweep``)."""
    from marketing.campaigns import campaigns_sweep as run
    from omo.core.queue import enqueue

    for campaign_id in run():
        enqueue(campaign_send, (campaign_id,))
