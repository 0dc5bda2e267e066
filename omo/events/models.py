"""The transactional outbox: every domain event is a row written in the same transaction as the change
it announces, so an event exists exactly when its change committed. The relay that publishes them
(Celery, claiming rows with SKIP LOCKED) comes with the sync issue."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class OutboxEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    event_type = models.CharField(_("event"), max_length=60, db_index=True)
    aggregate_type = models.CharField(_("aggregate"), max_length=40)
    aggregate_id = models.CharField(_("aggregate id"), max_length=64)
    payload = models.JSONField(_("payload"), default=dict)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("outbox event")
        verbose_name_plural = _("outbox events")
        ordering = ["id"]
        indexes = [
            models.Index(fields=["id"], condition=Q(published_at__isnull=True), name="outbox_unpublished"),
            models.Index(fields=["aggregate_type", "aggregate_id", "id"], name="outbox_aggregate"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.aggregate_type}:{self.aggregate_id}"
