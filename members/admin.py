from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from members.models import (
    Consent,
    Coupon,
    CouponCampaign,
    CouponRedemption,
    EarnRule,
    Identity,
    LoginCode,
    Member,
    MemberTier,
    PointsEntry,
    PointsLot,
    Tier,
    TierChange,
    WalletCoupon,
    WishlistItem,
)
from omo.core.admin_helpers import ReadOnlyAdmin


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
