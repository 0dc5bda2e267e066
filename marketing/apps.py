from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MarketingConfig(AppConfig):
    name = "marketing"
    verbose_name = _("Precision marketing")

    def ready(self):
        from marketing.privacy import marketing_erase_personal_data, marketing_export
        from members.privacy import ERASURE_HOOKS, EXPORT_SECTIONS

        if marketing_erase_personal_data not in ERASURE_HOOKS:
            ERASURE_HOOKS.append(marketing_erase_personal_data)
        if ("marketing", marketing_export) not in EXPORT_SECTIONS:
            EXPORT_SECTIONS.append(("marketing", marketing_export))
