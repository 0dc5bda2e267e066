from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    """One member across every channel: identities, points, tiers and coupons."""

    name = "members"
    verbose_name = _("Members")
