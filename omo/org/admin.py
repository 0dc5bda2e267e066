from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from omo.org import services
from omo.org.models import ChannelCredential, Location, SalesChannel, StaffProfile, User


class StaffProfileInline(admin.StackedInline):
    model = StaffProfile
    can_delete = False
    fk_name = "user"
    autocomplete_fields = ["home_store"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    inlines = [StaffProfileInline]
    list_display = ["username", "first_name", "email", "store", "role_names", "is_active", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser", "groups", "staff_profile__home_store"]
    search_fields = ["username", "first_name", "last_name", "email", "staff_profile__employee_code"]
    list_select_related = ["staff_profile__home_store"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description=_("home store"))
    def store(self, obj):
        profile = getattr(obj, "staff_profile", None)
        return profile.home_store.code if profile and profile.home_store else "—"

    @admin.display(description=_("roles"))
    def role_names(self, obj):
        return ", ".join(sorted(g.name for g in obj.groups.all())) or "—"


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind", "city", "supplying_warehouse", "is_active"]
    list_filter = ["kind", "is_active", "city"]
    search_fields = ["code", "name", "city", "address"]
    list_select_related = ["supplying_warehouse"]
    autocomplete_fields = ["supplying_warehouse"]


class ChannelCredentialInline(admin.TabularInline):
    model = ChannelCredential
    extra = 0
    can_delete = False
    fields = ["name", "prefix", "created_by", "created_at", "last_used_at", "expires_at", "revoked_at", "revoked_by"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False  # keys are issued with the "Issue a new API key" action, which shows the key once


@admin.register(SalesChannel)
class SalesChannelAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind", "is_active", "live_keys"]
    list_filter = ["kind", "is_active"]
    search_fields = ["code", "name"]
    inlines = [ChannelCredentialInline]
    actions = ["issue_key"]

    @admin.display(description=_("live API keys"))
    def live_keys(self, obj):
        return obj.credentials.filter(revoked_at__isnull=True).count()

    @admin.action(description=_("Issue a new API key (shown once)"), permissions=["change"])
    def issue_key(self, request, queryset):
        for channel in queryset:
            _credential, raw_key = services.channel_credential_issue(
                channel=channel, name=f"issued by {request.user.username}", created_by=request.user
            )
            self.message_user(
                request,
                _("New key for %(channel)s (copy it now, it is not shown again): %(key)s")
                % {"channel": channel.code, "key": raw_key},
                messages.WARNING,
            )


@admin.register(ChannelCredential)
class ChannelCredentialAdmin(admin.ModelAdmin):
    list_display = ["channel", "name", "prefix", "created_by", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["channel", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "channel__code"]
    list_select_related = ["channel", "created_by"]
    readonly_fields = ["channel", "prefix", "created_by", "created_at", "last_used_at", "revoked_at", "revoked_by"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Revoke the selected keys"), permissions=["change"])
    def revoke(self, request, queryset):
        for credential in queryset:
            services.channel_credential_revoke(credential=credential, revoked_by=request.user)
        self.message_user(request, _("Revoked %(n)d keys.") % {"n": queryset.count()})


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):
    list_display = ["employee_code", "display_name", "user", "home_store", "referral_code"]
    list_filter = ["home_store", "user__groups"]
    search_fields = ["employee_code", "display_name", "user__username", "referral_code"]
    list_select_related = ["user", "home_store"]
    autocomplete_fields = ["home_store"]
    readonly_fields = ["created_at", "updated_at"]
