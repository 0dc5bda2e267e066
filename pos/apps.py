from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PosConfig(AppConfig):
    """The web POS for store clerks: registers, shifts, sales, pickups."""

    name = "pos"
    verbose_name = _("Point of sale")
