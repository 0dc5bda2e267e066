"""One member across every channel: the person, their identities (phone, email, LINE, Facebook,
WeChat, app installs) and consents, and their points, kept in an append-only ledger with expiring lots
and the balance beside it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

USER = settings.AUTH_USER_MODEL


class Member(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        MERGED = "merged", _("Merged into another member")
        ERASED = "erased", _("Personal data erased")

    member_no = models.CharField(_("member number"), max_length=12, unique=True)
    name = models.CharField(_("name"), max_length=100, blank=True)
    phone = models.CharField(_("phone (E.164)"), max_length=20, unique=True, null=True, blank=True)
    email = models.EmailField(_("email"), unique=True, null=True, blank=True)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    merged_into = models.ForeignKey(
        "self", verbose_name=_("merged into"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    registered_channel = models.ForeignKey(
        "org.SalesChannel",
        verbose_name=_("registered through"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    registered_store = models.ForeignKey(
        "org.Location",
        verbose_name=_("registered at store"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    registered_by = models.ForeignKey(
        USER, verbose_name=_("registered by clerk"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    referral_code = models.CharField(_("referral code"), max_length=12, unique=True)
    referred_by = models.ForeignKey(
        "self",
        verbose_name=_("referred by member"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="referrals",
    )
    profile = models.JSONField(
        _("profile fields"), default=dict, blank=True, help_text=_("Values of the brand's profile fields, by key.")
    )
    points_balance = models.IntegerField(_("points balance"), default=0)
    created_at = models.DateTimeField(_("joined at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(points_balance__gte=0), name="member_points_not_negative"),
            models.CheckConstraint(condition=~Q(merged_into=F("pk")), name="member_not_merged_into_itself"),
            models.CheckConstraint(condition=~Q(referred_by=F("pk")), name="member_not_referred_by_itself"),
        ]
        indexes = [models.Index(fields=["name", "birthday"], name="member_name_birthday")]

    def __str__(self) -> str:
        return f"{self.member_no} {self.name}".strip()


class Identity(models.Model):
    """An outside id that resolves to the member: a LINE user, a Facebook id, a WeChat openid or
    unionid, an app install."""

    class Provider(models.TextChoices):
        LINE = "line", _("LINE")
        FACEBOOK = "facebook", _("Facebook")
        WECHAT_OPENID = "wechat_openid", _("WeChat openid")
        WECHAT_UNIONID = "wechat_unionid", _("WeChat unionid")
        APP_INSTALL = "app_install", _("App install")

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="identities")
    provider = models.CharField(_("provider"), max_length=20, choices=Provider.choices)
    external_id = models.CharField(_("external id"), max_length=128)
    created_at = models.DateTimeField(_("linked at"), auto_now_add=True)

    class Meta:
        verbose_name = _("identity")
        verbose_name_plural = _("identities")
        constraints = [
            models.UniqueConstraint(fields=["provider", "external_id"], name="identity_unique"),
            models.CheckConstraint(
                condition=Q(provider__in=["line", "facebook", "wechat_openid", "wechat_unionid", "app_install"]),
                name="identity_provider_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.external_id}"


class Consent(models.Model):
    """A member's yes or no to marketing on one channel, with when and where it was given. The latest
    row per purpose is in force; older rows are the history."""

    class Purpose(models.TextChoices):
        SMS = "sms", _("SMS marketing")
        EMAIL = "email", _("Email marketing")
        LINE = "line", _("LINE marketing")

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="consents")
    purpose = models.CharField(_("purpose"), max_length=10, choices=Purpose.choices)
    granted = models.BooleanField(_("granted"))
    source = models.CharField(_("where"), max_length=40, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        ordering = ["member", "purpose", "-id"]

    def __str__(self) -> str:
        return f"{self.purpose}={'yes' if self.granted else 'no'}"


class PointsLot(models.Model):
    """Points earned together, with their expiry date; redemption takes the earliest to expire first."""

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="points_lots")
    earned = models.IntegerField(_("earned"))
    remaining = models.IntegerField(_("remaining"))
    expires_on = models.DateField(_("expires on"))
    reference = models.CharField(_("reference"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("points lot")
        verbose_name_plural = _("points lots")
        ordering = ["expires_on", "id"]
        indexes = [
            models.Index(fields=["member", "expires_on"], condition=Q(remaining__gt=0), name="points_lot_open"),
            # what expires next, for the dashboard's points liability
            models.Index(fields=["expires_on"], condition=Q(remaining__gt=0), name="points_lot_open_expiry"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(earned__gt=0), name="points_lot_earned_positive"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0, remaining__lte=F("earned")), name="points_lot_remaining_within_earned"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.remaining}/{self.earned} until {self.expires_on}"


class PointsEntry(models.Model):
    """One change of a member's points. Append-only: the balance always equals the sum of entries."""

    class Kind(models.TextChoices):
        EARN = "earn", _("Earned")
        REDEEM = "redeem", _("Redeemed")
        EXPIRE = "expire", _("Expired")
        ADJUST = "adjust", _("Adjusted")
        REVERSE = "reverse", _("Reversed")
        MERGE = "merge", _("Moved by a merge")

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="points_entries"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    points = models.IntegerField(_("points"), help_text=_("Positive in, negative out."))
    balance_after = models.IntegerField(_("balance after"))
    reference = models.CharField(_("reference"), max_length=64, blank=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        USER, verbose_name=_("by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("points entry")
        verbose_name_plural = _("points entries")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["member", "id"], name="points_entry_member"),
            models.Index(fields=["reference"], name="points_entry_reference"),
            models.Index(fields=["created_at"], name="points_entry_created"),  # the dashboard's periods
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(points=0), name="points_entry_not_zero"),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="points_entry_balance_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.points:+d}"


class CouponCampaign(models.Model):
    """A coupon offer: what it takes off, when, where and for what, and how often it may be used."""

    class Discount(models.TextChoices):
        AMOUNT = "amount", _("Amount off")
        PERCENT = "percent", _("Percent off")

    class Codes(models.TextChoices):
        SHARED = "shared", _("One shared code")
        UNIQUE = "unique", _("A unique code per member")

    name = models.CharField(_("name"), max_length=100)
    discount_type = models.CharField(_("discount"), max_length=10, choices=Discount.choices)
    amount = models.DecimalField(_("amount off"), max_digits=12, decimal_places=2, null=True, blank=True)
    percent = models.DecimalField(_("percent off"), max_digits=5, decimal_places=2, null=True, blank=True)
    max_discount = models.DecimalField(_("discount cap"), max_digits=12, decimal_places=2, null=True, blank=True)
    min_spend = models.DecimalField(_("minimum spend"), max_digits=12, decimal_places=2, default=0)
    starts_at = models.DateTimeField(_("valid from"))
    ends_at = models.DateTimeField(_("valid until"))
    code_type = models.CharField(_("codes"), max_length=10, choices=Codes.choices, default=Codes.SHARED)
    channels = models.ManyToManyField(
        "org.SalesChannel",
        verbose_name=_("only on channels"),
        blank=True,
        related_name="+",
        help_text=_("Empty: every channel."),
    )
    stores = models.ManyToManyField(
        "org.Location",
        verbose_name=_("only at stores"),
        blank=True,
        related_name="+",
        help_text=_("Empty: every store and online."),
    )
    categories = models.ManyToManyField(
        "catalog.Category",
        verbose_name=_("only for categories"),
        blank=True,
        related_name="+",
        help_text=_("Empty: everything (subcategories count)."),
    )
    per_member_limit = models.PositiveIntegerField(_("uses per member"), null=True, blank=True)
    budget = models.PositiveIntegerField(_("total uses"), null=True, blank=True)
    redeemed_count = models.PositiveIntegerField(_("uses so far"), default=0)
    reinstate_on_cancel = models.BooleanField(
        _("give the coupon back when the order is cancelled or returned"), default=True
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("coupon campaign")
        verbose_name_plural = _("coupon campaigns")
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="campaign_window_ordered"),
            models.CheckConstraint(
                condition=(
                    Q(discount_type="amount", amount__gt=0)
                    | Q(discount_type="percent", percent__gt=0, percent__lte=100)
                ),
                name="campaign_discount_valid",
            ),
            models.CheckConstraint(
                condition=Q(budget__isnull=True) | Q(redeemed_count__lte=F("budget")), name="campaign_within_budget"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Coupon(models.Model):
    """A code. A shared code serves everyone (within the campaign's limits); a unique code belongs to
    one member and is used once."""

    campaign = models.ForeignKey(
        CouponCampaign, verbose_name=_("campaign"), on_delete=models.PROTECT, related_name="coupons"
    )
    code = models.CharField(_("code"), max_length=32, unique=True)
    member = models.ForeignKey(
        Member,
        verbose_name=_("issued to"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="issued_coupons",
    )
    max_uses = models.PositiveIntegerField(_("uses allowed"), null=True, blank=True, help_text=_("Empty: unlimited."))
    times_used = models.PositiveIntegerField(_("times used"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        constraints = [
            models.CheckConstraint(
                condition=Q(max_uses__isnull=True) | Q(times_used__lte=F("max_uses")), name="coupon_within_uses"
            )
        ]

    def __str__(self) -> str:
        return self.code


class WalletCoupon(models.Model):
    """A coupon a member collected, in a store or online: one wallet for every channel."""

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="wallet")
    coupon = models.ForeignKey(Coupon, verbose_name=_("coupon"), on_delete=models.PROTECT, related_name="+")
    collected_channel = models.ForeignKey(
        "org.SalesChannel",
        verbose_name=_("collected on"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    collected_store = models.ForeignKey(
        "org.Location",
        verbose_name=_("collected at store"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    collected_at = models.DateTimeField(_("collected at"), auto_now_add=True)

    class Meta:
        verbose_name = _("wallet coupon")
        verbose_name_plural = _("wallet coupons")
        constraints = [models.UniqueConstraint(fields=["member", "coupon"], name="wallet_coupon_unique")]
        indexes = [models.Index(fields=["collected_at"], name="wallet_coupon_collected")]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.coupon_id}"


class CouponRedemption(models.Model):
    class Status(models.TextChoices):
        REDEEMED = "redeemed", _("Redeemed")
        REINSTATED = "reinstated", _("Given back")

    coupon = models.ForeignKey(Coupon, verbose_name=_("coupon"), on_delete=models.PROTECT, related_name="redemptions")
    member = models.ForeignKey(
        Member,
        verbose_name=_("member"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="coupon_redemptions",
    )
    reference = models.CharField(_("order"), max_length=64)
    discount = models.DecimalField(_("discount"), max_digits=12, decimal_places=2)
    channel = models.ForeignKey(
        "org.SalesChannel", verbose_name=_("channel"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    store = models.ForeignKey(
        "org.Location", verbose_name=_("store"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.REDEEMED)
    redeemed_at = models.DateTimeField(_("redeemed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("coupon redemption")
        verbose_name_plural = _("coupon redemptions")
        ordering = ["-id"]
        indexes = [models.Index(fields=["redeemed_at"], name="coupon_redemption_at")]

    def __str__(self) -> str:
        return f"{self.coupon_id} on {self.reference}"


class Tier(models.Model):
    """A membership level reached by rolling 12-month spend across every channel, with its benefits."""

    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=50)
    rank = models.PositiveIntegerField(_("rank"), unique=True, help_text=_("Higher is better; 0 is the entry tier."))
    min_spend_12m = models.DecimalField(_("12-month spend to reach it"), max_digits=12, decimal_places=2, default=0)
    points_multiplier = models.DecimalField(_("points multiplier"), max_digits=4, decimal_places=2, default=1)
    validity_months = models.PositiveIntegerField(_("months it holds once reached"), default=12)

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["rank"]
        constraints = [
            models.CheckConstraint(condition=Q(min_spend_12m__gte=0), name="tier_spend_not_negative"),
            models.CheckConstraint(condition=Q(points_multiplier__gte=0), name="tier_multiplier_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name


class MemberTier(models.Model):
    """A member's tier now (one row per member) and until when it holds."""

    member = models.OneToOneField(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="tier_state")
    tier = models.ForeignKey(Tier, verbose_name=_("tier"), on_delete=models.PROTECT, related_name="+")
    valid_until = models.DateField(_("holds until"), null=True, blank=True)

    class Meta:
        verbose_name = _("member tier")
        verbose_name_plural = _("member tiers")

    def __str__(self) -> str:
        return f"{self.member_id}: {self.tier_id}"


class TierChange(models.Model):
    """The tier history: every upgrade and downgrade with the spend that decided it."""

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="tier_changes")
    from_tier = models.ForeignKey(
        Tier, verbose_name=_("from"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_tier = models.ForeignKey(Tier, verbose_name=_("to"), on_delete=models.PROTECT, related_name="+")
    spend_12m = models.DecimalField(_("12-month spend"), max_digits=14, decimal_places=2)
    reason = models.CharField(_("reason"), max_length=100)
    changed_at = models.DateTimeField(_("changed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.from_tier_id} -> {self.to_tier_id}"


class EarnRule(models.Model):
    """How purchases earn points: one base rule (no conditions) sets the spend per point; bonus rules
    multiply it for some channels, tiers, categories or dates (double-points days). A line earns at the
    highest multiplier among the rules that match it, the same online and in store."""

    name = models.CharField(_("name"), max_length=100)
    spend_per_point = models.DecimalField(
        _("spend per point"),
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Base rule only, e.g. 100: one point per NT$100."),
    )
    multiplier = models.DecimalField(
        _("multiplier"),
        max_digits=4,
        decimal_places=2,
        default=1,
        help_text=_("2 for double points; 0 excludes what it matches."),
    )
    channels = models.ManyToManyField(
        "org.SalesChannel", verbose_name=_("only on channels"), blank=True, related_name="+"
    )
    tiers = models.ManyToManyField(Tier, verbose_name=_("only for tiers"), blank=True, related_name="+")
    categories = models.ManyToManyField(
        "catalog.Category", verbose_name=_("only for categories"), blank=True, related_name="+"
    )
    starts_at = models.DateTimeField(_("from"), null=True, blank=True)
    ends_at = models.DateTimeField(_("until"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("earn rule")
        verbose_name_plural = _("earn rules")
        constraints = [
            models.CheckConstraint(
                condition=Q(spend_per_point__isnull=True) | Q(spend_per_point__gt=0), name="earn_rule_spend_positive"
            ),
            models.CheckConstraint(condition=Q(multiplier__gte=0), name="earn_rule_multiplier_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name


class LoginCode(models.Model):
    """A one-time code sent by SMS to log a member in. Only a hash is kept; it expires and allows a
    few attempts."""

    phone = models.CharField(_("phone (E.164)"), max_length=20, db_index=True)
    code_hash = models.CharField(_("code hash"), max_length=64)
    expires_at = models.DateTimeField(_("expires at"))
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("login code")
        verbose_name_plural = _("login codes")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.phone} ({self.created_at:%Y-%m-%d %H:%M})"


class WishlistItem(models.Model):
    """An item a member saved online; the store clerk sees it at the POS (online data helping the store)."""

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="wishlist")
    variant = models.ForeignKey(
        "catalog.Variant", verbose_name=_("variant"), on_delete=models.CASCADE, related_name="+"
    )
    channel = models.ForeignKey(
        "org.SalesChannel",
        verbose_name=_("saved on"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    added_at = models.DateTimeField(_("saved at"), auto_now_add=True)

    class Meta:
        verbose_name = _("wishlist item")
        verbose_name_plural = _("wishlist items")
        ordering = ["-added_at"]
        constraints = [models.UniqueConstraint(fields=["member", "variant"], name="wishlist_item_unique")]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.variant_id}"


# --- brand-defined profile ------------------------------------------------------------------------


class ProfileGroup(models.Model):
    """A repeatable set of profile fields a member can hold several of: a pet shop's pets, an
    optician's prescriptions."""

    key = models.SlugField(_("key"), max_length=40, unique=True)
    label = models.CharField(_("label"), max_length=100)
    max_entries = models.PositiveIntegerField(_("at most"), default=10)
    is_active = models.BooleanField(_("active"), default=True)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("profile group")
        verbose_name_plural = _("profile groups")
        ordering = ["position", "key"]
        constraints = [models.CheckConstraint(condition=Q(max_entries__gte=1), name="profile_group_max_positive")]

    def __str__(self) -> str:
        return self.label


class ProfileField(models.Model):
    """A field HQ defines for members (no group) or for the entries of a group; every write of a value
    is checked against it."""

    class Type(models.TextChoices):
        TEXT = "text", _("Text")
        NUMBER = "number", _("Number")
        DATE = "date", _("Date")
        CHOICE = "choice", _("Choice")

    group = models.ForeignKey(
        ProfileGroup,
        verbose_name=_("group"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="fields",
        help_text=_("Empty: a field of the member themselves."),
    )
    key = models.SlugField(_("key"), max_length=40)
    label = models.CharField(_("label"), max_length=100)
    type = models.CharField(_("type"), max_length=10, choices=Type.choices)
    required = models.BooleanField(_("required"), default=False)
    choices = models.JSONField(_("choices"), default=list, blank=True, help_text=_("For a choice: the allowed values."))
    max_length = models.PositiveIntegerField(_("longest text"), default=200)
    min_value = models.DecimalField(_("smallest number"), max_digits=14, decimal_places=4, null=True, blank=True)
    max_value = models.DecimalField(_("largest number"), max_digits=14, decimal_places=4, null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("profile field")
        verbose_name_plural = _("profile fields")
        ordering = ["group_id", "position", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=Q(group__isnull=True), name="profile_field_key_unique_top"
            ),
            models.UniqueConstraint(fields=["group", "key"], name="profile_field_key_unique_in_group"),
            models.CheckConstraint(
                condition=Q(type__in=["text", "number", "date", "choice"]), name="profile_field_type_valid"
            ),
            models.CheckConstraint(
                condition=Q(min_value__isnull=True) | Q(max_value__isnull=True) | Q(min_value__lte=F("max_value")),
                name="profile_field_range_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.label


class ProfileEntry(models.Model):
    """One entry of a repeatable group for a member (one pet, one prescription)."""

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="profile_entries"
    )
    group = models.ForeignKey(ProfileGroup, verbose_name=_("group"), on_delete=models.PROTECT, related_name="entries")
    values = models.JSONField(_("values"), default=dict)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("profile entry")
        verbose_name_plural = _("profile entries")
        ordering = ["group_id", "id"]
        indexes = [models.Index(fields=["member", "group"], name="profile_entry_member")]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.group_id}"


# --- purchases, referrals, merges, erasure --------------------------------------------------------


class Purchase(models.Model):
    """What a member bought in any channel, as the loyalty program sees it: the net amount paid for an
    order, where, and how much of it was refunded since. Orders record it when an order is paid and
    when lines come back; tiers (rolling 12-month spend), member-get-member rewards and the OMO segment
    read it."""

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="purchases")
    reference = models.CharField(_("order"), max_length=64, unique=True)
    channel = models.ForeignKey(
        "org.SalesChannel", verbose_name=_("channel"), on_delete=models.PROTECT, related_name="+"
    )
    store = models.ForeignKey(
        "org.Location", verbose_name=_("store"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    amount = models.DecimalField(_("amount paid"), max_digits=14, decimal_places=2)
    refunded = models.DecimalField(_("refunded"), max_digits=14, decimal_places=2, default=0)
    paid_at = models.DateTimeField(_("paid at"))

    class Meta:
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        ordering = ["-paid_at"]
        indexes = [
            models.Index(fields=["member", "paid_at"], name="purchase_member_paid"),
            models.Index(fields=["paid_at"], name="purchase_paid_at"),  # the dashboard's OMO segments
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="purchase_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(refunded__gte=0, refunded__lte=F("amount")), name="purchase_refund_within_amount"
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def net(self):
        return self.amount - self.refunded


class ReferralReward(models.Model):
    """A member-get-member reward: paid to the referrer once, on the new member's first paid order."""

    referrer = models.ForeignKey(
        Member, verbose_name=_("referrer"), on_delete=models.PROTECT, related_name="referral_rewards"
    )
    referred = models.OneToOneField(
        Member, verbose_name=_("new member"), on_delete=models.PROTECT, related_name="referral_reward"
    )
    purchase = models.ForeignKey(Purchase, verbose_name=_("first order"), on_delete=models.PROTECT, related_name="+")
    points = models.PositiveIntegerField(_("points to the referrer"))
    welcome_points = models.PositiveIntegerField(_("points to the new member"), default=0)
    reversed_at = models.DateTimeField(_("taken back at"), null=True, blank=True)
    created_at = models.DateTimeField(_("rewarded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("referral reward")
        verbose_name_plural = _("referral rewards")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.referrer_id} <- {self.referred_id}"

    @property
    def reference(self) -> str:
        """The points ledger reference of the reward (stable through merges)."""
        return f"referral:{self.purchase.reference}"


class DuplicateCandidate(models.Model):
    """Two members who look like one person, with the evidence; HQ merges them or dismisses the pair."""

    class Reason(models.TextChoices):
        SIGN_UP = "sign_up", _("A sign-up gave details of both")
        NAME_BIRTHDAY = "name_birthday", _("Same name and birthday")
        EMAIL_ALIAS = "email_alias", _("Same mailbox (dots or +tags)")

    class Status(models.TextChoices):
        OPEN = "open", _("To review")
        MERGED = "merged", _("Merged")
        DISMISSED = "dismissed", _("Not the same person")

    first = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="+")
    second = models.ForeignKey(Member, verbose_name=_("looks like"), on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(_("why"), max_length=20, choices=Reason.choices)
    evidence = models.JSONField(_("evidence"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    found_at = models.DateTimeField(_("found at"), auto_now_add=True)
    decided_by = models.ForeignKey(
        USER, verbose_name=_("decided by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        verbose_name = _("duplicate candidate")
        verbose_name_plural = _("duplicate candidates")
        ordering = ["status", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["first", "second", "reason"], name="duplicate_candidate_unique"),
            models.CheckConstraint(condition=Q(first__lt=F("second")), name="duplicate_candidate_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.first_id} ~ {self.second_id} ({self.reason})"


class MemberMerge(models.Model):
    """The record of a merge: who was folded into whom, by whom, what moved and the values the merged
    member had (so nothing is lost even where HQ chose the survivor's value)."""

    survivor = models.ForeignKey(Member, verbose_name=_("kept"), on_delete=models.PROTECT, related_name="merges_in")
    merged = models.OneToOneField(
        Member, verbose_name=_("merged"), on_delete=models.PROTECT, related_name="merge_record"
    )
    merged_values = models.JSONField(_("merged member's details"), default=dict)
    moved = models.JSONField(_("rows moved"), default=dict)
    points_moved = models.IntegerField(_("points moved"), default=0)
    choices = models.JSONField(_("choices made"), default=dict, blank=True)
    merged_by = models.ForeignKey(USER, verbose_name=_("by"), on_delete=models.PROTECT, related_name="+")
    merged_at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("member merge")
        verbose_name_plural = _("member merges")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.merged_id} -> {self.survivor_id}"


class MemberErasure(models.Model):
    """A personal-data erasure (Taiwan PDPA): who asked, who did it and when. It holds no personal data."""

    member = models.OneToOneField(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="erasure")
    reason = models.CharField(_("reason"), max_length=200)
    points_forfeited = models.IntegerField(_("points forfeited"), default=0)
    erased_by = models.ForeignKey(USER, verbose_name=_("by"), on_delete=models.PROTECT, related_name="+")
    erased_at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("personal data erasure")
        verbose_name_plural = _("personal data erasures")
        ordering = ["-id"]

    def __str__(self) -> str:
        return str(self.member_id)


class CouponIssueJob(models.Model):
    """A bulk issue of a campaign's unique codes to a segment of members, run by a Celery worker in
    batches; running it again issues nothing twice."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    campaign = models.ForeignKey(
        CouponCampaign, verbose_name=_("campaign"), on_delete=models.PROTECT, related_name="issue_jobs"
    )
    segment = models.JSONField(_("segment"), default=dict, help_text=_("Which members: see members.segments."))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    matched = models.PositiveIntegerField(_("members matched"), default=0)
    issued = models.PositiveIntegerField(_("coupons issued"), default=0)
    skipped = models.PositiveIntegerField(_("already held one"), default=0)
    error = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(USER, verbose_name=_("by"), on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("coupon issue job")
        verbose_name_plural = _("coupon issue jobs")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.campaign_id} #{self.pk}"
