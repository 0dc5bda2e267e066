from django import forms
from django.contrib import admin
from django.contrib.auth import password_validation
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from omo.core.errors import ApplicationError, BusinessRuleError
from omo.org import services
from omo.org.models import ChannelCredential, Location, SalesChannel, StaffProfile, User
from omo.org.roles import Role


class StaffProfileInline(admin.StackedInline):
    model = StaffProfile
    can_delete = False
    fk_name = "user"
    fields = ["employee_code", "display_name", "home_store", "referral_code"]
    readonly_fields = fields  # edited on the staff profile page, through the services

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Logins: activation, password resets, last login. Staff are added and given roles on the
    staff profile page, so a role and its store are always checked together."""

    inlines = [StaffProfileInline]
    list_display = ["username", "first_name", "email", "store", "role_names", "is_active", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser", "groups", "staff_profile__home_store"]
    search_fields = ["username", "first_name", "last_name", "email", "staff_profile__employee_code"]
    list_select_related = ["staff_profile__home_store"]
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "email")}),
        (_("Access"), {"fields": ("is_active", "is_superuser", "groups")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    readonly_fields = ["is_superuser", "groups", "last_login", "date_joined"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Only a superuser may touch a superuser (password, name, activation): an HQ admin cannot
        # take over the account that has every permission.
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description=_("home store"))
    def store(self, obj):
        profile = getattr(obj, "staff_profile", None)
        return profile.home_store.code if profile and profile.home_store else "—"

    @admin.display(description=_("roles"))
    def role_names(self, obj):
        return ", ".join(sorted(str(Role(g.name).label) for g in obj.groups.all() if g.name in Role.values)) or "—"


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind", "city", "supplying_warehouse", "is_active"]
    list_filter = ["kind", "is_active", "city"]
    search_fields = ["code", "name", "city", "address"]
    list_select_related = ["supplying_warehouse"]
    autocomplete_fields = ["supplying_warehouse"]

    def save_model(self, request, obj, form, change):
        fields = {f: getattr(obj, f) for f in services.LOCATION_FIELDS}
        if change:
            services.location_update(location=obj, **fields)
        else:
            obj.pk = services.location_create(code=obj.code, **fields).pk


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
        """Shows the new keys on a page of their own (never in a cookie-backed message)."""
        issued, refused = [], []
        for channel in queryset.order_by("code"):
            try:
                _credential, raw_key = services.channel_credential_issue(
                    channel=channel, name=f"issued by {request.user.username}", created_by=request.user
                )
            except ApplicationError as error:
                refused.append((channel, error.message))
                continue
            issued.append((channel, raw_key))
        response = TemplateResponse(
            request,
            "admin/org/saleschannel/issued_keys.html",
            {
                **self.admin_site.each_context(request),
                "title": _("New API keys"),
                "issued": issued,
                "refused": refused,
                "opts": self.model._meta,
            },
        )
        response["Cache-Control"] = "no-store"
        return response


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


class StaffProfileForm(forms.ModelForm):
    """Role and home store are chosen together and checked with the service's rule."""

    role = forms.ChoiceField(label=_("role"), choices=Role.choices)

    class Meta:
        model = StaffProfile
        fields = ["employee_code", "display_name", "home_store", "role"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "employee_code" in self.fields:  # a view-only role's form has no model fields
            role = services.current_role(self.instance.user)
            self.fields["role"].initial = role.value if role else None
            self.fields["employee_code"].disabled = True

    def clean(self):
        data = super().clean()
        if "role" in data and "home_store" in data:
            try:
                services.check_role_store(Role(data["role"]), data["home_store"])
            except BusinessRuleError as error:
                raise forms.ValidationError(error.message, code=error.code) from None
        return data


class StaffCreationForm(StaffProfileForm):
    username = forms.CharField(label=_("username"), max_length=150)
    email = forms.EmailField(label=_("email"), required=False)
    password = forms.CharField(
        label=_("password"),
        widget=forms.PasswordInput,
        strip=False,
        help_text=_("At least 10 characters; the staff member can change it later."),
    )

    class Meta(StaffProfileForm.Meta):
        fields = ["username", "email", "password", "employee_code", "display_name", "role", "home_store"]

    def clean_username(self):
        username = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(_("The username %(username)s is taken.") % {"username": username})
        return username

    def clean_password(self):
        password = self.cleaned_data["password"]
        password_validation.validate_password(password)
        return password


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):
    """Staff onboarding and role changes for HQ: every save goes through omo.org.services."""

    list_display = ["employee_code", "display_name", "user", "role", "home_store", "referral_code", "is_active"]
    list_filter = ["home_store", "user__groups", "user__is_active"]
    search_fields = ["employee_code", "display_name", "user__username", "referral_code"]
    list_select_related = ["user", "home_store"]
    autocomplete_fields = ["home_store"]
    readonly_fields = ["referral_code", "created_at", "updated_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("user__groups")

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = StaffProfileForm if obj else StaffCreationForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["username", "email", "password", "employee_code", "display_name", "role", "home_store"]
        return ["employee_code", "display_name", "role", "home_store", "referral_code", "created_at", "updated_at"]

    @admin.display(description=_("role"))
    def role(self, obj):
        names = [g.name for g in obj.user.groups.all() if g.name in Role.values]
        return ", ".join(str(Role(n).label) for n in sorted(names)) or "—"

    @admin.display(description=_("active"), boolean=True)
    def is_active(self, obj):
        return obj.user.is_active

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            services.staff_update(
                profile=obj, role=data["role"], home_store=data["home_store"], display_name=data["display_name"]
            )
            return
        profile = services.staff_create(
            username=data["username"],
            password=data["password"],
            email=data["email"],
            display_name=data["display_name"],
            employee_code=data["employee_code"],
            role=data["role"],
            home_store=data["home_store"],
        )
        obj.pk, obj.user, obj.referral_code = profile.pk, profile.user, profile.referral_code
