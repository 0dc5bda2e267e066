from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InventoryConfig(AppConfig):
    """One stock pool: stock levels per SKU and location, the append-only movement ledger,
    reservations and transfers."""

    name = "inventory"
    verbose_name = _("Inventory")

    def ready(self):
        from inventory.feeds import on_stock_changed
        from omo.events.consumers import register

        # the channels' stock feeds hear of every stock change through the outbox
        register("stock.changed", on_stock_changed)
