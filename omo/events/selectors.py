"""Reads over the outbox and webhooks: the notices HQ must act on."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from omo.events.models import OutboxEvent, WebhookDelivery, WebhookSubscription


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
