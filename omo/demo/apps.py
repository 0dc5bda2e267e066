from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DemoConfig(AppConfig):
    """The demo brand (``manage.py seed_demo``). Top of the dependency graph: it uses every app."""

    name = "omo.demo"
    label = "demo"
    verbose_name = _("Demo data")
