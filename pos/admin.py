from django.contrib import admin

from pos.models import Register


@admin.register(Register)
class RegisterAdmin(admin.ModelAdmin):
    list_display = ["store", "code", "name", "is_active", "updated_by", "updated_at"]
    list_filter = ["store", "is_active"]
    search_fields = ["code", "name", "store__code", "store__name"]
    list_select_related = ["store", "updated_by"]
    autocomplete_fields = ["store"]
    readonly_fields = ["created_at", "created_by", "updated_at", "updated_by"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)
