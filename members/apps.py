from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    """One member across every channel: identities, points, tiers and coupons."""

    name = "members"
    verbose_name = _("Members")

    def ready(self):
        from members.models import CouponCampaign, EarnRule, Tier
        from omo.core.config_cache import watch

        # earn rules and campaign limits are read on every sale: reused a few seconds, dropped on change
        watch(EarnRule, CouponCampaign, Tier)
