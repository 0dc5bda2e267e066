from django.conf import settings
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from omo.org.access import is_hq

# Callables (request) -> list of {"level": "warning"|"error", "message": str, "url": str}: things HQ must
# act on, shown at the top of the admin's front page. Apps above org add theirs in AppConfig.ready.
NOTICE_PROVIDERS: list = []


class OmoAdminSite(admin.AdminSite):
    """The HQ dashboard. Only HQ staff (and superusers) may enter; store staff use the POS pages."""

    site_title = _("OMO back office")
    index_title = _("Headquarters")

    @property
    def site_header(self):
        return _("%(brand)s · OMO back office") % {"brand": settings.BRAND_NAME}

    def has_permission(self, request):
        return super().has_permission(request) and is_hq(request.user)

    def index(self, request, extra_context=None):
        notices = [notice for provider in NOTICE_PROVIDERS for notice in provider(request)]
        return super().index(request, extra_context={**(extra_context or {}), "omo_notices": notices})
