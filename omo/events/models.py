"""The transactional outbox and the webhook subscriptions it feeds.

Every domain event is a row written in the same transaction as the change it announces, so an event
exists exactly when its change committed. The relay (``relay.py``) claims unpublished rows with
``FOR UPDATE SKIP LOCKED``, one partition at a time (an aggregate always falls in the same partition,
which keeps its events in order), hands them to the consumers inside the back office and fans them
out into one webhook delivery per matching subscription. Workers then send the deliveries, in event
order per aggregate, with exponential backoff, a dead-letter state and replay.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OutboxEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    event_type = models.CharField(_("event"), max_length=60, db_index=True)
    aggregate_type = models.CharField(_("aggregate"), max_length=40)
    aggregate_id = models.CharField(_("aggregate id"), max_length=64)
    channel = models.ForeignKey(
        "org.SalesChannel",
        verbose_name=_("channel"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        help_text=_("The channel the event belongs to (an order's); blank for events of every channel."),
    )
    partition = models.PositiveSmallIntegerField(_("partition"), default=0)
    payload = models.JSONField(_("payload"), default=dict)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    dead_at = models.DateTimeField(
        _("dead-lettered at"), null=True, blank=True, help_text=_("Given up after too many failures; replay it.")
    )
    replayed_at = models.DateTimeField(_("replayed at"), null=True, blank=True)
    replayed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("replayed by"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip

    class Meta:
        verbose_name = _("outbox event")
        verbose_name_plural = _("outbox events")
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["partition", "id"],
                condition=Q(published_at__isnull=True, dead_at__isnull=True),
                name="outbox_unpublished",
            ),
            models.Index(
                fields=["aggregate_type", "aggregate_id", "id"],
                condition=Q(published_at__isnull=True, dead_at__isnull=True, attempts__gt=0),
                name="outbox_failing",
            ),
            models.Index(fields=["aggregate_type", "aggregate_id", "id"], name="outbox_aggregate"),
            models.Index(fields=["dead_at"], condition=Q(dead_at__isnull=False), name="outbox_dead"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.aggregate_type}:{self.aggregate_id}"

    @property
    def status(self) -> str:
        if self.dead_at:
            return "dead"
        return "published" if self.published_at else "pending"


class WebhookSubscription(models.Model):
    """A frontend's or partner's endpoint, owned by a sales channel, receiving the event types it lists.

    Events that belong to a channel (an order's) go only to that channel's subscriptions; events of
    every channel (members, points, stock) go to every subscription that lists them.
    """

    channel = models.ForeignKey(
        "org.SalesChannel", verbose_name=_("channel"), on_delete=models.PROTECT, related_name="webhook_subscriptions"
    )
    name = models.CharField(_("name"), max_length=100)
    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(
        _("signing secret"), max_length=80, help_text=_("Shared with the receiver, who checks each signature.")
    )
    event_types = models.JSONField(
        _("event types"),
        default=list,
        help_text=_('A list such as ["order.paid", "stock.*"]; ["*"] for every event.'),
    )
    is_active = models.BooleanField(_("active"), default=True)
    consecutive_failures = models.PositiveIntegerField(_("failures in a row"), default=0)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    disabled_reason = models.CharField(_("why disabled"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")
        ordering = ["channel", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"

    @property
    def deliverable(self) -> bool:
        return self.is_active and self.disabled_at is None

    def wants(self, event_type: str, channel_id: int | None) -> bool:
        if channel_id is not None and channel_id != self.channel_id:
            return False
        for wanted in self.event_types or []:
            if wanted == "*" or wanted == event_type:
                return True
            if wanted.endswith(".*") and event_type.startswith(wanted[:-1]):
                return True
        return False


class WebhookDelivery(models.Model):
    """One event for one subscription: pending until the receiver answers 2xx, retried with backoff,
    dead-lettered after too many attempts (and replayable from the admin)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        DEAD = "dead", _("Dead-lettered")

    id = models.BigAutoField(primary_key=True)
    subscription = models.ForeignKey(
        WebhookSubscription, verbose_name=_("subscription"), on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(OutboxEvent, verbose_name=_("event"), on_delete=models.PROTECT, related_name="+")
    partition = models.PositiveSmallIntegerField(_("partition"), default=0)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True, blank=True)
    response_ms = models.PositiveIntegerField(_("response time (ms)"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    replayed_at = models.DateTimeField(_("replayed at"), null=True, blank=True)
    replayed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("replayed by"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event"], name="webhook_delivery_once"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "delivered", "dead"]), name="webhook_delivery_status_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["subscription", "partition", "event"],
                condition=Q(status="pending"),
                name="webhook_delivery_pending",
            ),
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.subscription_id} ({self.status})"


class WebhookAttempt(models.Model):
    """A failed attempt, kept for the log (a delivery that succeeds first time is described by its own
    row: when, status, response time)."""

    delivery = models.ForeignKey(
        WebhookDelivery, verbose_name=_("delivery"), on_delete=models.CASCADE, related_name="failed_attempts"
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True, blank=True)
    response_ms = models.PositiveIntegerField(_("response time (ms)"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("failed webhook attempt")
        verbose_name_plural = _("failed webhook attempts")
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.delivery_id} at {self.at:%Y-%m-%d %H:%M:%S}: {self.response_status or self.error[:40]}"
