from django.contrib import admin

from omo.core.admin_helpers import ReadOnlyAdmin
from omo.events.models import OutboxEvent


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "event_type", "aggregate_type", "aggregate_id", "created_at", "published_at", "attempts"]
    list_filter = ["event_type", "aggregate_type"]
    search_fields = ["=aggregate_id", "event_type"]
