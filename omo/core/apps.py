from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "omo.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self):
        from omo.core import security  # noqa: F401  (registers the deploy check of the page policy)
