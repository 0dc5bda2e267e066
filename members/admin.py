from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from members import coupons, merging, privacy, selectors
from members.models import (
    Consent,
    Coupon,
    CouponCampaign,
    CouponIssueJob,
    CouponRedemption,
    DuplicateCandidate,
    EarnRule,
    Identity,
    LoginCode,
    Member,
    MemberErasure,
    MemberMerge,
    MemberTier,
    PointsEntry,
    PointsLot,
    Purchase,
    ReferralReward,
    Tier,
    TierChange,
    WalletCoupon,
    WishlistItem,
)
from omo.core.admin_helpers import ReadOnlyAdmin
from omo.core.errors import ApplicationError


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


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    """The member 360 page: identities, profile, points, coupons, tier history and purchases from every
    channel with the OMO segment; with the data export, the PDPA erasure and merging a duplicate in.
    Points, tiers and coupons change only through the services."""

    change_form_template = "admin/members/member/change_form.html"
    list_display = ["member_no", "name", "phone", "email", "status", "points_balance", "registered_store", "created_at"]
    list_filter = ["status", "registered_channel", "registered_store", "tier_state__tier"]
    search_fields = ["=member_no", "name", "=phone", "=email", "=identities__external_id", "=referral_code"]
    list_select_related = ["registered_channel", "registered_store"]
    fields = ["member_no", "name", "phone", "email", "birthday", "status", "merged_into", "points_balance"]
    readonly_fields = [
        "member_no",
        "name",
        "phone",
        "email",
        "birthday",
        "points_balance",
        "status",
        "merged_into",
        "referral_code",
        "referred_by",
        "registered_channel",
        "registered_store",
        "registered_by",
        "created_at",
        "updated_at",
    ]
    inlines = [IdentityInline, ConsentInline]

    def get_fields(self, request, obj=None):
        return [
            "member_no",
            "name",
            "phone",
            "email",
            "birthday",
            "status",
            "merged_into",
            "points_balance",
            "referral_code",
            "referred_by",
            "registered_channel",
            "registered_store",
            "registered_by",
            "created_at",
        ]

    def has_add_permission(self, request):
        return False  # members register through the API, the POS or a frontend (deduplicated there)

    def has_delete_permission(self, request, obj=None):
        return False  # erasure anonymises the person (PDPA) and keeps the figures

    def get_urls(self):
        own = [
            path("<int:pk>/export/", self.admin_site.admin_view(self.export_view), name="members_member_export"),
            path("<int:pk>/erase/", self.admin_site.admin_view(self.erase_view), name="members_member_erase"),
            path("<int:pk>/merge/", self.admin_site.admin_view(self.merge_view), name="members_member_merge"),
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        member = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if member is not None:
            extra["m360"] = selectors.member_360(member)
            extra["can_erase"] = request.user.has_perm("members.add_membererasure")
            extra["can_merge"] = request.user.has_perm("members.add_membermerge")
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def _page(self, request, member, template, **context):
        return TemplateResponse(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "original": member,
                "member": member,
                **context,
            },
        )

    def export_view(self, request, pk):
        member = get_object_or_404(Member, pk=pk)
        if not request.user.has_perm("members.add_membererasure"):
            raise PermissionDenied
        response = JsonResponse(
            privacy.member_export(member=member), json_dumps_params={"ensure_ascii": False, "indent": 2}
        )
        response["Content-Disposition"] = f'attachment; filename="member-{member.member_no}.json"'
        return response

    def erase_view(self, request, pk):
        member = get_object_or_404(Member, pk=pk)
        if not request.user.has_perm("members.add_membererasure"):
            raise PermissionDenied
        if request.method == "POST":
            try:
                erasure = privacy.member_erase(member=member, actor=request.user, reason=request.POST.get("reason", ""))
            except ApplicationError as error:
                messages.error(request, error.message)
            else:
                messages.success(
                    request,
                    _("The personal data of %(no)s is erased; %(points)d points were forfeited.")
                    % {"no": member.member_no, "points": erasure.points_forfeited},
                )
                return redirect("admin:members_member_change", member.pk)
        return self._page(request, member, "admin/members/member/erase.html", title=_("Erase personal data"))

    def merge_view(self, request, pk):
        """Step 1: the member number to fold in; step 2: the conflicts to settle (if any) and confirm."""
        survivor = get_object_or_404(Member, pk=pk)
        if not request.user.has_perm("members.add_membermerge"):
            raise PermissionDenied
        number = (request.POST.get("merged") or request.GET.get("merged") or "").strip()
        merged = Member.objects.filter(member_no=number).first() if number else None
        plan, error = None, None
        if number and merged is None:
            error = _("No member %(no)s.") % {"no": number}
        elif merged is not None:
            plan = merging.merge_plan(survivor=survivor, merged=merged)
        if request.method == "POST" and merged is not None and request.POST.get("confirm") == merged.member_no:
            choices = {
                c["field"]: request.POST.get(f"keep:{c['field']}", "") for c in plan.conflicts if c["field"] != "rows"
            }
            try:
                record = merging.member_merge(
                    survivor=survivor,
                    merged=merged,
                    actor=request.user,
                    choices={k: v for k, v in choices.items() if v},
                )
            except ApplicationError as failure:
                error = failure.message
            else:
                messages.success(
                    request,
                    _("%(merged)s is merged into %(survivor)s (%(points)d points moved).")
                    % {"merged": merged.member_no, "survivor": survivor.member_no, "points": record.points_moved},
                )
                return redirect("admin:members_member_change", survivor.pk)
        return self._page(
            request,
            survivor,
            "admin/members/member/merge.html",
            title=_("Merge a duplicate into %(no)s") % {"no": survivor.member_no},
            merged=merged,
            number=number,
            plan=plan,
            error=error,
        )


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdmin):
    list_display = ["paid_at", "reference", "member", "channel", "store", "amount", "refunded"]
    list_filter = ["channel", "store"]
    search_fields = ["=reference", "=member__member_no"]
    list_select_related = ["member", "channel", "store"]
    date_hierarchy = "paid_at"


@admin.register(ReferralReward)
class ReferralRewardAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "referrer", "referred", "purchase", "points", "welcome_points", "reversed_at"]
    search_fields = ["=referrer__member_no", "=referred__member_no"]
    list_select_related = ["referrer", "referred", "purchase"]


@admin.register(DuplicateCandidate)
class DuplicateCandidateAdmin(ReadOnlyAdmin):
    """Members who look like one person: merge them (the older number is kept by default) or dismiss."""

    list_display = ["found_at", "first", "second", "reason", "status", "review"]
    list_filter = ["status", "reason"]
    search_fields = ["=first__member_no", "=second__member_no"]
    list_select_related = ["first", "second"]
    actions = ["dismiss"]

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("members.add_membermerge")  # the dismiss action

    @admin.display(description=_("review"))
    def review(self, obj):
        if obj.status != DuplicateCandidate.Status.OPEN:
            return "-"
        url = reverse("admin:members_member_merge", args=[obj.first_id])
        return format_html('<a href="{}?merged={}">{}</a>', url, obj.second.member_no, _("Merge…"))

    @admin.action(description=_("Not the same person: dismiss"), permissions=["change"])
    def dismiss(self, request, queryset):
        done = 0
        for candidate in queryset.filter(status=DuplicateCandidate.Status.OPEN):
            merging.duplicate_dismiss(candidate=candidate, actor=request.user)
            done += 1
        messages.success(request, _("%(n)d pairs dismissed.") % {"n": done})


@admin.register(MemberMerge)
class MemberMergeAdmin(ReadOnlyAdmin):
    list_display = ["merged_at", "merged", "survivor", "points_moved", "merged_by"]
    search_fields = ["=merged__member_no", "=survivor__member_no"]
    list_select_related = ["merged", "survivor", "merged_by"]


@admin.register(MemberErasure)
class MemberErasureAdmin(ReadOnlyAdmin):
    list_display = ["erased_at", "member", "reason", "points_forfeited", "erased_by"]
    search_fields = ["=member__member_no", "reason"]
    list_select_related = ["member", "erased_by"]


class CouponIssueJobForm(forms.ModelForm):
    class Meta:
        model = CouponIssueJob
        fields = ["campaign", "segment"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = CouponCampaign.objects.filter(
            code_type=CouponCampaign.Codes.UNIQUE, is_active=True
        )
        self.fields["segment"].help_text = _(
            'Rules, all optional: {"tiers": ["GOLD"], "stores": ["TPE01"], "omo": "both", "consent": "sms", '
            '"joined_from": "2026-01-01", "birthday_month": 12, "min_points": 100}. {} is every member.'
        )


@admin.register(CouponIssueJob)
class CouponIssueJobAdmin(admin.ModelAdmin):
    """Bulk issue of a unique-code campaign to a segment: saving queues it for a Celery worker."""

    form = CouponIssueJobForm
    list_display = ["created_at", "campaign", "status", "matched", "issued", "skipped", "created_by", "finished_at"]
    list_filter = ["status", "campaign"]
    list_select_related = ["campaign", "created_by"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["campaign", "segment", "status", "matched", "issued", "skipped", "error", "created_by", "finished_at"]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        try:
            job = coupons.coupon_issue_job_create(
                campaign=form.cleaned_data["campaign"], segment=form.cleaned_data["segment"], actor=request.user
            )
        except ApplicationError as error:
            raise ValidationError(error.message) from None
        obj.pk = job.pk

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("admin:members_couponissuejob_add")


@admin.register(PointsEntry)
class PointsEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "member", "kind", "points", "balance_after", "reference", "created_by"]
    list_filter = ["kind"]
    search_fields = ["member__member_no", "reference"]
    list_select_related = ["member", "created_by"]


@admin.register(PointsLot)
class PointsLotAdmin(ReadOnlyAdmin):
    list_display = ["member", "earned", "remaining", "expires_on", "reference", "created_at"]
    list_filter = ["expires_on"]
    search_fields = ["member__member_no", "reference"]
    list_select_related = ["member"]


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


class CouponInline(admin.TabularInline):
    model = Coupon
    extra = 0
    fields = ["code", "member", "max_uses", "times_used"]
    readonly_fields = ["times_used"]
    raw_id_fields = ["member"]


@admin.register(CouponCampaign)
class CouponCampaignAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "discount_type",
        "amount",
        "percent",
        "min_spend",
        "starts_at",
        "ends_at",
        "code_type",
        "redeemed_count",
        "budget",
        "is_active",
    ]
    list_filter = ["is_active", "discount_type", "code_type", "channels", "stores"]
    search_fields = ["name", "coupons__code"]
    filter_horizontal = ["channels", "stores", "categories"]
    readonly_fields = ["redeemed_count", "created_at"]
    inlines = [CouponInline]


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    list_display = ["code", "campaign", "member", "max_uses", "times_used", "created_at"]
    list_filter = ["campaign"]
    search_fields = ["code", "member__member_no"]
    list_select_related = ["campaign", "member"]
    readonly_fields = ["times_used"]
    raw_id_fields = ["member"]


@admin.register(WalletCoupon)
class WalletCouponAdmin(admin.ModelAdmin):
    list_display = ["member", "coupon", "collected_channel", "collected_store", "collected_at"]
    list_filter = ["collected_channel", "collected_store"]
    search_fields = ["member__member_no", "coupon__code"]
    list_select_related = ["member", "coupon", "collected_channel", "collected_store"]
    raw_id_fields = ["member", "coupon"]


@admin.register(CouponRedemption)
class CouponRedemptionAdmin(ReadOnlyAdmin):
    list_display = ["redeemed_at", "coupon", "member", "reference", "discount", "channel", "store", "status"]
    list_filter = ["status", "channel", "store"]
    search_fields = ["coupon__code", "reference", "member__member_no"]
    list_select_related = ["coupon", "member", "channel", "store"]


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = ["rank", "code", "name", "min_spend_12m", "points_multiplier", "validity_months"]
    search_fields = ["code", "name"]


@admin.register(EarnRule)
class EarnRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "spend_per_point", "multiplier", "starts_at", "ends_at", "is_active"]
    list_filter = ["is_active", "channels", "tiers"]
    search_fields = ["name"]
    filter_horizontal = ["channels", "tiers", "categories"]


@admin.register(MemberTier)
class MemberTierAdmin(admin.ModelAdmin):
    list_display = ["member", "tier", "valid_until"]
    list_filter = ["tier"]
    search_fields = ["member__member_no"]
    list_select_related = ["member", "tier"]
    readonly_fields = ["member", "tier", "valid_until"]

    def has_add_permission(self, request):
        return False


@admin.register(TierChange)
class TierChangeAdmin(ReadOnlyAdmin):
    list_display = ["changed_at", "member", "from_tier", "to_tier", "spend_12m", "reason"]
    list_filter = ["to_tier"]
    search_fields = ["member__member_no"]
    list_select_related = ["member", "from_tier", "to_tier"]


@admin.register(LoginCode)
class LoginCodeAdmin(admin.ModelAdmin):
    """Log-in codes sent (only their hashes): for support, read-only."""

    list_display = ["phone", "created_at", "expires_at", "attempts", "used_at"]
    search_fields = ["phone"]
    exclude = ["code_hash"]
    readonly_fields = ["phone", "created_at", "expires_at", "attempts", "used_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WishlistItem)
class WishlistItemAdmin(admin.ModelAdmin):
    list_display = ["member", "variant", "channel", "added_at"]
    list_filter = ["channel"]
    search_fields = ["member__member_no", "variant__sku"]
    list_select_related = ["member", "variant", "channel"]


# --- brand-defined profile -------------------------------------------------------------------------
# (Imported here, not at the top, so this section can be added without touching the lines above.)

from django.db.models import Prefetch  # noqa: E402
from django.utils.html import format_html_join  # noqa: E402
from django.utils.translation import gettext  # noqa: E402

from members import profiles  # noqa: E402
from members.models import ProfileEntry, ProfileField, ProfileGroup  # noqa: E402


class ProfileFieldForm(forms.ModelForm):
    """Checks what the model cannot: a choice field's choices are a list of distinct, non-empty texts
    (stored stripped); other types keep no choices."""

    class Meta:
        model = ProfileField
        fields = [
            "group",
            "key",
            "label",
            "type",
            "required",
            "choices",
            "max_length",
            "min_value",
            "max_value",
            "is_active",
            "position",
        ]

    def clean(self):
        cleaned = super().clean()
        kind, choices = cleaned.get("type"), cleaned.get("choices")
        if kind != ProfileField.Type.CHOICE:
            if "choices" in cleaned:
                cleaned["choices"] = []
            return cleaned
        if "choices" not in cleaned:
            return cleaned  # the JSON did not parse: the field has its error already
        if not isinstance(choices, list) or not choices:
            self.add_error("choices", gettext('A choice field needs a list of choices, like ["S", "M", "L"].'))
            return cleaned
        if not all(isinstance(choice, str) and choice.strip() for choice in choices):
            self.add_error("choices", gettext("Every choice is a text that is not empty."))
            return cleaned
        stripped = [choice.strip() for choice in choices]
        if len(set(stripped)) != len(stripped):
            repeated = sorted({choice for choice in stripped if stripped.count(choice) > 1})
            self.add_error(
                "choices",
                gettext("Each choice is given once: %(choices)s repeated.") % {"choices": ", ".join(repeated)},
            )
            return cleaned
        cleaned["choices"] = stripped
        return cleaned


class ProfileFieldInline(admin.TabularInline):
    model = ProfileField
    form = ProfileFieldForm
    extra = 0
    fields = [
        "position",
        "key",
        "label",
        "type",
        "required",
        "choices",
        "max_length",
        "min_value",
        "max_value",
        "is_active",
    ]
    ordering = ["position", "key"]


@admin.register(ProfileGroup)
class ProfileGroupAdmin(admin.ModelAdmin):
    """A repeatable group (pets, prescriptions) with its fields."""

    list_display = ["key", "label", "max_entries", "is_active", "position"]
    list_filter = ["is_active"]
    search_fields = ["key", "label"]
    ordering = ["position", "key"]
    inlines = [ProfileFieldInline]


@admin.register(ProfileField)
class ProfileFieldAdmin(admin.ModelAdmin):
    """Every profile field: the member's own (no group) and those of the groups."""

    form = ProfileFieldForm
    list_display = ["key", "label", "type", "group", "required", "is_active", "position"]
    list_filter = ["type", "is_active", "required", "group"]
    search_fields = ["key", "label"]
    list_select_related = ["group"]
    ordering = ["group__position", "group__key", "position", "key"]


@admin.register(ProfileEntry)
class ProfileEntryAdmin(ReadOnlyAdmin):
    """Members' group entries, as a person reads them; members change them through their frontends."""

    list_display = ["member", "group", "values_display", "updated_at"]
    list_filter = ["group"]
    search_fields = ["member__member_no"]
    list_select_related = ["member", "group"]
    fields = ["member", "group", "values_display", "created_at", "updated_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        active = ProfileField.objects.filter(is_active=True).order_by("position", "key", "pk")
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("group__fields", queryset=active, to_attr="active_fields"))
        )

    @admin.display(description=_("values"))
    def values_display(self, obj):
        shown = profiles.profile_display(fields=obj.group.active_fields, values=obj.values)
        return format_html_join("; ", "{}: {}", shown) or "-"
