from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EventsConfig(AppConfig):
    name = "omo.events"
    label = "events"
    verbose_name = _("Domain events and webhooks")

    def ready(self):
        from omo.events.selectors import admin_notices
        from omo.org.admin_site import NOTICE_PROVIDERS

        if admin_notices not in NOTICE_PROVIDERS:
            NOTICE_PROVIDERS.append(admin_notices)
