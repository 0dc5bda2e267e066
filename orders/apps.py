from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    """One order model for every channel: pricing, checkout, fulfilment and returns."""

    name = "orders"
    verbose_name = _("Orders")

    def ready(self):
        from catalog.models import Category, Product, Variant, VariantPrice
        from inventory.models import ChannelAllocation, ChannelLocation
        from omo.core.config_cache import watch
        from omo.org.models import Location, SalesChannel
        from orders.models import Promotion

        watch(
            Promotion,
            ChannelLocation,
            ChannelAllocation,
            Location,
            SalesChannel,
            Category,
            Product,
            Variant,
            VariantPrice,
        )

        from inventory.signals import transfer_received, transfer_receiving
        from orders.services import on_transfer_received, on_transfer_receiving

        transfer_receiving.connect(on_transfer_receiving, dispatch_uid="orders.on_transfer_receiving")
        transfer_received.connect(on_transfer_received, dispatch_uid="orders.on_transfer_received")

        from members.privacy import ERASURE_HOOKS
        from orders.inbound import inbound_erase_personal_data
        from orders.services import orders_erase_personal_data

        for hook in (orders_erase_personal_data, inbound_erase_personal_data):
            if hook not in ERASURE_HOOKS:
                ERASURE_HOOKS.append(hook)
