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
