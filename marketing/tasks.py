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
