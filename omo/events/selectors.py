"""Reads over the outbox and webhooks: the queue's state, the notices HQ must act on."""

from __future__ import annotations

from django.db.models import Count, Min, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from omo.events.models import OutboxEvent, WebhookDelivery, WebhookSubscription


def outbox_state() -> dict:
    """How far behind the relay is: events waiting, the oldest one's age in seconds, dead letters."""
    row = OutboxEvent.objects.filter(published_at__isnull=True).aggregate(
        waiting=Count("id", filter=Q(dead_at__isnull=True)),
        dead=Count("id", filter=Q(dead_at__isnull=False)),
        oldest=Min("created_at", filter=Q(dead_at__isnull=True)),
    )
    oldest = row.pop("oldest")
    row["oldest_seconds"] = round((timezone.now() - oldest).total_seconds(), 1) if oldest else 0
    row["dead_deliveries"] = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.DEAD).count()
    row["pending_deliveries"] = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING).count()
    return row


def admin_notices(request) -> list[dict]:
    """Disabled webhook subscriptions and dead letters, for the admin's front page."""
    if not request.user.has_perm("events.view_webhooksubscription"):
        return []
    notices = []
    for sub in WebhookSubscription.objects.filter(disabled_at__isnull=False).select_related("channel"):
        notices.append(
            {
                "level": "error",
                "message": _("Webhook %(name)s of %(channel)s was disabled on %(when)s: %(reason)s")
                % {
                    "name": sub.name,
                    "channel": sub.channel.code,
                    "when": timezone.localtime(sub.disabled_at).strftime("%Y-%m-%d %H:%M"),
                    "reason": sub.disabled_reason,
                },
                "url": reverse("admin:events_webhooksubscription_change", args=[sub.pk]),
            }
        )
    dead = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.DEAD).count()
    if dead:
        notices.append(
            {
                "level": "warning",
                "message": _("Dead-lettered webhook deliveries: %(n)s. Replay them once the receiver is fixed.")
                % {"n": dead},
                "url": reverse("admin:events_webhookdelivery_changelist") + "?status__exact=dead",
            }
        )
    dead_events = OutboxEvent.objects.filter(dead_at__isnull=False).count()
    if dead_events:
        notices.append(
            {
                "level": "warning",
                "message": _("Outbox events that could not be published: %(n)s. See why and replay them.")
                % {"n": dead_events},
                "url": reverse("admin:events_outboxevent_changelist") + "?state=dead",
            }
        )
    return notices
