"""Cross-cutting records: the idempotency keys of POST requests that create or move money or stock."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class IdempotencyKey(models.Model):
    """The first answer to a request sent with an ``Idempotency-Key`` header, kept so a retry gets the
    same answer instead of a second order, payment or return (see omo/core/idempotency.py)."""

    scope = models.CharField(_("caller"), max_length=40, help_text=_("channel:<id> or user:<id>"))
    key = models.CharField(_("key"), max_length=255)
    request_hash = models.CharField(_("request hash"), max_length=64)
    method_path = models.CharField(_("request"), max_length=300)
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True, help_text=_("Empty: running."))
    response_body = models.JSONField(_("response body"), null=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_key_unique")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"
