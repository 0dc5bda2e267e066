"""The web POS for store clerks: registers now; shifts, sales and pickups come with the POS issue."""

from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class Register(models.Model):
    """A till (counter PC or tablet) of one store."""

    store = models.ForeignKey(
        "org.Location",
        verbose_name=_("store"),
        on_delete=models.PROTECT,
        related_name="registers",
        limit_choices_to={"kind": "store"},
    )
    code = models.CharField(
        _("code"),
        max_length=10,
        validators=[RegexValidator(r"^[A-Z0-9][A-Z0-9-]{0,9}$", _("Use capital letters, digits and dashes."))],
    )
    name = models.CharField(_("name"), max_length=100)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        "org.User", verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    updated_by = models.ForeignKey(
        "org.User", verbose_name=_("updated by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    STORE_FIELD = "store"

    class Meta:
        verbose_name = _("register")
        verbose_name_plural = _("registers")
        ordering = ["store__code", "code"]
        constraints = [models.UniqueConstraint(fields=["store", "code"], name="register_code_unique_per_store")]

    def __str__(self) -> str:
        return f"{self.store.code}/{self.code} {self.name}"


class Shift(models.Model):
    """A clerk's time at a register: opened with the cash in the drawer, closed with a cash count,
    the variance against what the register's sales say should be there, and a report the store
    manager approves."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed, to approve")
        APPROVED = "approved", _("Approved")

    register = models.ForeignKey(Register, verbose_name=_("register"), on_delete=models.PROTECT, related_name="shifts")
    store = models.ForeignKey("org.Location", verbose_name=_("store"), on_delete=models.PROTECT, related_name="+")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    opened_by = models.ForeignKey("org.User", verbose_name=_("opened by"), on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField(_("opened at"), auto_now_add=True)
    opening_cash = models.DecimalField(_("opening cash"), max_digits=12, decimal_places=2)
    closed_by = models.ForeignKey(
        "org.User", verbose_name=_("closed by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    counted_cash = models.DecimalField(_("cash counted"), max_digits=12, decimal_places=2, null=True, blank=True)
    expected_cash = models.DecimalField(_("cash expected"), max_digits=12, decimal_places=2, null=True, blank=True)
    variance = models.DecimalField(_("variance"), max_digits=12, decimal_places=2, null=True, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    report = models.JSONField(_("shift report"), default=dict, blank=True)
    approved_by = models.ForeignKey(
        "org.User", verbose_name=_("approved by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)

    STORE_FIELD = "store"

    class Meta:
        verbose_name = _("shift")
        verbose_name_plural = _("shifts")
        ordering = ["-opened_at"]
        permissions = [("approve_shift", _("Can approve a shift report"))]
        constraints = [
            models.UniqueConstraint(
                fields=["register"], condition=models.Q(status="open"), name="one_open_shift_per_register"
            ),
            models.CheckConstraint(condition=models.Q(opening_cash__gte=0), name="shift_opening_cash_ok"),
        ]

    def __str__(self) -> str:
        return f"{self.register} {self.opened_at:%Y-%m-%d %H:%M}"


class ShiftEntry(models.Model):
    """Money through a shift's register: a sale's payment, a refund, or a void (a sale abandoned
    before it was paid), by tender. The shift report and the expected cash are sums of these."""

    class Kind(models.TextChoices):
        SALE = "sale", _("Sale")
        REFUND = "refund", _("Refund")
        VOID = "void", _("Void")
        CASH_IN = "cash_in", _("Cash put in")
        CASH_OUT = "cash_out", _("Cash taken out")

    shift = models.ForeignKey(Shift, verbose_name=_("shift"), on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    tender = models.CharField(_("tender"), max_length=20, blank=True)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2, help_text=_("Into the till: positive."))
    order_number = models.CharField(_("order"), max_length=24, blank=True)
    by = models.ForeignKey("org.User", verbose_name=_("by"), on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("shift entry")
        verbose_name_plural = _("shift entries")
        ordering = ["shift_id", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.tender} {self.amount}"
