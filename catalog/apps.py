from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogConfig(AppConfig):
    """Products, variants (SKUs), categories and per-channel listings and prices."""

    name = "catalog"
    verbose_name = _("Catalog")
