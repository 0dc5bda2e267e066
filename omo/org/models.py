"""Where the brand sells and who works for it: locations, sales channels with their API keys, staff.

Models that belong to one store name the field that holds it in ``STORE_FIELD``; the scoping helper
(``omo.org.access.scope_to_user``) reads it, so every app scopes the same way.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

CODE_VALIDATOR = RegexValidator(
    r"^[A-Z0-9][A-Z0-9-]{1,19}$", _("Use 2-20 capital letters, digits and dashes, e.g. S-TPE01.")
)
REFERRAL_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at the counter
REFERRAL_CODE_VALIDATOR = RegexValidator(
    rf"^[{REFERRAL_CODE_ALPHABET}]{{6,12}}$", _("Use 6-12 letters and digits (no 0, O, 1 or I).")
)


class User(AbstractUser):
    """A staff login. Members (customers) are not users: they live in the members app."""

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [models.UniqueConstraint(Lower("username"), name="user_username_case_insensitive_unique")]


class Location(models.Model):
    """A place that holds stock: a store (sells at the POS, hands over pickups) or a warehouse."""

    class Kind(models.TextChoices):
        STORE = "store", _("Store")
        WAREHOUSE = "warehouse", _("Warehouse")

    code = models.CharField(_("code"), max_length=20, unique=True, validators=[CODE_VALIDATOR])
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    city = models.CharField(_("city"), max_length=50, blank=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    supplying_warehouse = models.ForeignKey(
        "self",
        verbose_name=_("supplying warehouse"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="supplied_stores",
        limit_choices_to={"kind": "warehouse"},
        help_text=_("The warehouse that replenishes this store."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    STORE_FIELD = "self"

    class Meta:
        verbose_name = _("location")
        verbose_name_plural = _("locations")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=["store", "warehouse"]), name="location_kind_valid"),
            models.CheckConstraint(
                condition=Q(kind="store") | Q(supplying_warehouse__isnull=True),
                name="location_only_stores_have_supplier",
            ),
            models.CheckConstraint(condition=~Q(supplying_warehouse=models.F("pk")), name="location_not_own_supplier"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def is_store(self) -> bool:
        return self.kind == self.Kind.STORE

    def clean(self):
        if self.pk:
            self._check_kind_change()
        if self.supplying_warehouse_id is None:
            return
        if self.kind != self.Kind.STORE:
            raise ValidationError({"supplying_warehouse": _("Only a store is supplied by a warehouse.")})
        if self.supplying_warehouse.kind != self.Kind.WAREHOUSE:
            raise ValidationError({"supplying_warehouse": _("The supplier must be a warehouse.")})

    def _check_kind_change(self):
        saved_kind = Location.objects.filter(pk=self.pk).values_list("kind", flat=True).first()
        if saved_kind is None or saved_kind == self.kind:
            return
        if saved_kind == self.Kind.WAREHOUSE and self.supplied_stores.exists():
            raise ValidationError({"kind": _("This warehouse supplies stores: assign them another warehouse first.")})
        if saved_kind == self.Kind.STORE and self.staff.exists():
            raise ValidationError({"kind": _("Staff work in this store: move them to another store first.")})
        # Other apps' records that need a store (registers, orders ...) protect themselves: see
        # their services; a warehouse never gets a register because register_create refuses it.
        from django.apps import apps

        for model in apps.get_models():
            for field in model._meta.get_fields():
                if (
                    getattr(field, "related_model", None) is Location
                    and getattr(field, "many_to_one", False)
                    and field.remote_field.limit_choices_to == {"kind": saved_kind}
                    and model is not Location
                    and model._default_manager.filter(**{field.name: self.pk}).exists()
                ):
                    raise ValidationError(
                        {
                            "kind": _("%(things)s belong to this location as a %(kind)s.")
                            % {
                                "things": model._meta.verbose_name_plural.capitalize(),
                                "kind": Location.Kind(saved_kind).label,
                            }
                        }
                    )


class SalesChannel(models.Model):
    """Where a sale happens. Each frontend that sells through a channel calls the API with its own key."""

    class Kind(models.TextChoices):
        POS = "pos", _("Store POS")
        WEB = "web", _("Web shop")
        APP = "app", _("App")
        MARKETPLACE = "marketplace", _("Marketplace")

    ONLINE_KINDS = (Kind.WEB, Kind.APP, Kind.MARKETPLACE)

    code = models.CharField(_("code"), max_length=20, unique=True, validators=[CODE_VALIDATOR])
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("sales channel")
        verbose_name_plural = _("sales channels")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["pos", "web", "app", "marketplace"]), name="channel_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def is_online(self) -> bool:
        return self.kind in self.ONLINE_KINDS


class ChannelCredential(models.Model):
    """An API key of one sales channel. Only a hash of the secret is stored; the key is shown once.

    A key reads ``omo_<prefix>_<secret>``: the prefix finds the row, the secret is compared by hash.
    """

    channel = models.ForeignKey(
        SalesChannel, verbose_name=_("channel"), on_delete=models.PROTECT, related_name="credentials"
    )
    name = models.CharField(_("name"), max_length=100, help_text=_("Who uses this key, e.g. 'web shop production'."))
    prefix = models.CharField(_("key prefix"), max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(_("secret hash"), max_length=64, editable=False)
    created_by = models.ForeignKey(
        User, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        User, verbose_name=_("revoked by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("channel API key")
        verbose_name_plural = _("channel API keys")
        ordering = ["channel", "-created_at"]

    def __str__(self) -> str:
        return f"{self.channel.code}: {self.name} (omo_{self.prefix}_…)"

    # Lets DRF treat a channel key like a logged-in client (``request.auth``).
    is_authenticated = True


class StaffProfile(models.Model):
    """Ties a staff login to the store they work in, their employee code and their referral code."""

    user = models.OneToOneField(User, verbose_name=_("user"), on_delete=models.CASCADE, related_name="staff_profile")
    employee_code = models.CharField(_("employee code"), max_length=20, unique=True, validators=[CODE_VALIDATOR])
    display_name = models.CharField(_("display name"), max_length=100)
    home_store = models.ForeignKey(
        Location,
        verbose_name=_("home store"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="staff",
        limit_choices_to={"kind": "store"},
        help_text=_("Required for store managers and clerks; empty for HQ staff."),
    )
    referral_code = models.CharField(
        _("referral code"), max_length=12, unique=True, validators=[REFERRAL_CODE_VALIDATOR]
    )
    pin_hash = models.CharField(
        _("POS PIN (hashed)"),
        max_length=128,
        blank=True,
        help_text=_("For switching clerks at a shared register and for manager overrides."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    STORE_FIELD = "home_store"

    class Meta:
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")
        ordering = ["employee_code"]

    def __str__(self) -> str:
        return f"{self.employee_code} {self.display_name}"

    def clean(self):
        if self.home_store_id and not self.home_store.is_store:
            raise ValidationError({"home_store": _("A home store must be a store, not a warehouse.")})
