from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AttributionConfig(AppConfig):
    """Clerk referral attribution: bindings, service events and commission settlement."""

    name = "attribution"
    verbose_name = _("Clerk attribution")

    def ready(self):
        # bindings are recorded inside the transaction of the event that makes them; the order's
        # attribution is queued for after its payment commits
        from attribution.models import Policy
        from omo.core.config_cache import watch

        watch(Policy)

        from attribution.services import on_member_registered, on_order_cancelled, on_order_paid, on_order_returned
        from members.signals import member_registered
        from orders.signals import order_cancelled, order_paid, order_returned

        member_registered.connect(on_member_registered, dispatch_uid="attribution.on_member_registered")
        order_paid.connect(on_order_paid, dispatch_uid="attribution.on_order_paid")
        order_returned.connect(on_order_returned, dispatch_uid="attribution.on_order_returned")
        order_cancelled.connect(on_order_cancelled, dispatch_uid="attribution.on_order_cancelled")
