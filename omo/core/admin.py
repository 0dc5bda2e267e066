from django.contrib import admin

from omo.core.admin_helpers import ReadOnlyAdmin
from omo.core.models import IdempotencyKey


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdmin):
    """The answers kept for retried requests (support: why did a retry get that answer?)."""

    list_display = ["created_at", "scope", "key", "method_path", "response_status"]
    list_filter = ["response_status"]
    search_fields = ["=key", "=scope"]
    exclude = ["response_body"]
