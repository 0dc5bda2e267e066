from django.conf import settings
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from omo.org.access import is_hq


class OmoAdminSite(admin.AdminSite):
    """The HQ dashboard. Only HQ staff (and superusers) may enter; store staff use the POS pages."""

    site_title = _("OMO back office")
    index_title = _("Headquarters")

    @property
    def site_header(self):
        return _("%(brand)s · OMO back office") % {"brand": settings.BRAND_NAME}

    def has_permission(self, request):
        return super().has_permission(request) and is_hq(request.user)
