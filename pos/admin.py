from django.contrib import admin

from pos import services
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
        if change:
            services.register_update(actor=request.user, register=obj, name=obj.name, is_active=obj.is_active)
        else:
            obj.pk = services.register_create(actor=request.user, store=obj.store, code=obj.code, name=obj.name).pk
