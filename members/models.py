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
        ]

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
        indexes = [models.Index(fields=["member", "expires_on"], condition=Q(remaining__gt=0), name="points_lot_open")]
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
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(points=0), name="points_entry_not_zero"),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="points_entry_balance_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.points:+d}"
