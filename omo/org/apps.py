from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class OrgConfig(AppConfig):
    name = "omo.org"
    label = "org"
    verbose_name = _("Organisation")


class OmoAdminConfig(admin_apps.AdminConfig):
    """The Django admin with this project's HQ-only site (omo/org/admin_site.py)."""

    default = False
    default_site = "omo.org.admin_site.OmoAdminSite"
