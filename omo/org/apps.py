from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class OrgConfig(AppConfig):
    name = "omo.org"
    label = "org"
    verbose_name = _("Organisation")

    def ready(self):
        from omo.core.config_cache import watch
        from omo.org.models import ChannelCredential, SalesChannel

        # channel keys are looked up per request: reused a few seconds, dropped when one is revoked
        watch(ChannelCredential, SalesChannel)

        from django.contrib.auth.signals import user_login_failed

        from omo.org.lockout import count_failure

        user_login_failed.connect(count_failure, dispatch_uid="omo.org.lockout.count_failure")


class OmoAdminConfig(admin_apps.AdminConfig):
    """The Django admin with this project's HQ-only site (omo/org/admin_site.py)."""

    default = False
    default_site = "omo.org.admin_site.OmoAdminSite"
