from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from members.models import Consent, Identity, Member, PointsEntry, PointsLot


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0
    fields = ["provider", "external_id", "created_at"]
    readonly_fields = ["created_at"]


class ConsentInline(admin.TabularInline):
    model = Consent
    extra = 0
    fields = ["purpose", "granted", "source", "recorded_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class PointsEntryInline(admin.TabularInline):
    model = PointsEntry
    extra = 0
    fields = ["created_at", "kind", "points", "balance_after", "reference", "reason", "created_by"]
    readonly_fields = fields
    ordering = ["-id"]
    max_num = 0

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    """The member page: identities, consents and the points history (changed only by the services)."""

    list_display = ["member_no", "name", "phone", "email", "status", "points_balance", "registered_store", "created_at"]
    list_filter = ["status", "registered_channel", "registered_store"]
    search_fields = ["member_no", "name", "phone", "email", "identities__external_id", "referral_code"]
    list_select_related = ["registered_channel", "registered_store"]
    readonly_fields = [
        "member_no",
        "points_balance",
        "status",
        "merged_into",
        "referral_code",
        "registered_channel",
        "registered_store",
        "registered_by",
        "created_at",
        "updated_at",
    ]
    inlines = [IdentityInline, ConsentInline, PointsEntryInline]

    def has_delete_permission(self, request, obj=None):
        return False  # erasure anonymises the person (PDPA) and keeps the figures


@admin.register(PointsEntry)
class PointsEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "member", "kind", "points", "balance_after", "reference", "created_by"]
    list_filter = ["kind"]
    search_fields = ["member__member_no", "reference"]
    list_select_related = ["member", "created_by"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PointsLot)
class PointsLotAdmin(admin.ModelAdmin):
    list_display = ["member", "earned", "remaining", "expires_on", "reference", "created_at"]
    list_filter = ["expires_on"]
    search_fields = ["member__member_no", "reference"]
    list_select_related = ["member"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = ["provider", "external_id", "member", "created_at"]
    list_filter = ["provider"]
    search_fields = ["external_id", "member__member_no"]
    list_select_related = ["member"]


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    list_display = ["member", "purpose", "granted", "source", "recorded_at"]
    list_filter = ["purpose", "granted"]
    search_fields = ["member__member_no"]
    list_select_related = ["member"]

    @admin.display(description=_("member"))
    def member_no(self, obj):
        return obj.member.member_no
