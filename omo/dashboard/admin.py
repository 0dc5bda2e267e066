"""Traffic counts in the admin: HQ reads and filters them here; counts come in through the API, the CSV
upload on the dashboard's formula page, or the door counters themselves."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from omo.core.admin_helpers import ReadOnlyAdmin
from omo.dashboard.models import RolledUpDay, TrafficCount


@admin.register(TrafficCount)
class TrafficCountAdmin(ReadOnlyAdmin):
    list_display = ["day", "hour", "store", "channel", "visits", "source", "updated_by", "updated_at"]
    list_filter = ["source", "store", "channel"]
    date_hierarchy = "day"
    list_select_related = ["store", "channel", "updated_by"]

    def changelist_view(self, request, extra_context=None):
        link = format_html(
            '<a href="{}">{}</a>', reverse("dashboard:page", args=["formula"]), _("Upload a CSV on the dashboard")
        )
        return super().changelist_view(request, extra_context={**(extra_context or {}), "subtitle": link})


@admin.register(RolledUpDay)
class RolledUpDayAdmin(ReadOnlyAdmin):
    """Which days the dashboard reads from its rollups (the others are computed live)."""

    list_display = ["day", "refreshed_at"]
    date_hierarchy = "day"
