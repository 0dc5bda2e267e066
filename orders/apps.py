from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    """One order model for every channel: pricing, checkout, fulfilment and returns."""

    name = "orders"
    verbose_name = _("Orders")
