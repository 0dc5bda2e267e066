from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AttributionConfig(AppConfig):
    """Clerk referral attribution: bindings, service events and commission settlement."""

    name = "attribution"
    verbose_name = _("Clerk attribution")
