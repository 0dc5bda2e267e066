from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    """The audit trail of money, stock, points, coupons and commission (django-pghistory)."""

    name = "omo.audit"
    label = "audit"
    verbose_name = _("Audit trail")

    def ready(self):
        from omo.audit import jobs

        jobs.connect()
