from django.contrib import admin

from omo.core.admin_helpers import ReadOnlyAdmin
from pos import services
from pos.models import Register, Shift, ShiftEntry


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


class ShiftEntryInline(admin.TabularInline):
    model = ShiftEntry
    extra = 0
    max_num = 0
    can_delete = False
    fields = ["at", "kind", "tender", "amount", "order_number", "by"]
    readonly_fields = fields


@admin.register(Shift)
class ShiftAdmin(ReadOnlyAdmin):
    """Register shifts with their cash count, variance and report; opened, closed and approved at the POS."""

    list_display = [
        "opened_at",
        "register",
        "status",
        "opened_by",
        "opening_cash",
        "expected_cash",
        "counted_cash",
        "variance",
        "approved_by",
    ]
    list_filter = ["status", "store"]
    search_fields = ["=register__code", "=store__code"]
    list_select_related = ["register__store", "opened_by", "approved_by"]
    inlines = [ShiftEntryInline]


@admin.register(ShiftEntry)
class ShiftEntryAdmin(ReadOnlyAdmin):
    list_display = ["at", "shift", "kind", "tender", "amount", "order_number", "by"]
    list_filter = ["kind", "tender"]
    search_fields = ["=order_number"]
    list_select_related = ["shift__register__store", "by"]
