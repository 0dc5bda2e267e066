"""Reads of the orders app, with their queries made explicit."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _

from inventory.models import ChannelLocation
from omo.core.errors import ApplicationError, BusinessRuleError, NotFoundError
from omo.org.models import Location, SalesChannel
from orders.models import Fulfilment, FulfilmentLine, InboundOrder, Order, OrderLine


def order_detail_queryset(orders: QuerySet[Order]) -> QuerySet[Order]:
    """An order with everything its page shows, in a fixed number of queries (7) whatever its size."""
    return orders.select_related("channel", "store", "member").prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.order_by("id").prefetch_related("discounts")),
        "payments",
        "history",
        Prefetch(
            "fulfilments",
            queryset=Fulfilment.objects.select_related("location").prefetch_related(
                Prefetch("lines", queryset=FulfilmentLine.objects.select_related("line"))
            ),
        ),
    )


def inbound_order_of(channel: SalesChannel, marketplace_order_id: str) -> InboundOrder:
    """A marketplace's order as this back office took it in, with the order it became (404
    ``inbound_order_not_found``; another channel's orders are never found)."""
    record = (
        InboundOrder.objects.filter(channel=channel, marketplace_order_id=marketplace_order_id)
        .select_related("channel")
        .first()
    )
    if record is None:
        raise NotFoundError(
            _("No order %(id)s from this marketplace.") % {"id": marketplace_order_id}, code="inbound_order_not_found"
        )
    return record


def return_location(channel: SalesChannel) -> Location:
    """Where goods a customer sends back to an online channel go: its first shipping location."""
    link = (
        ChannelLocation.objects.filter(channel=channel, ships=True, location__is_active=True)
        .select_related("location")
        .order_by("priority", "location__code")
        .first()
    )
    if link is None:
        raise BusinessRuleError(
            f"Channel {channel.code} has no location to take returns.", code="no_fulfilment_locations"
        )
    return link.location


def pickups_at(*, store: Location, query: str = "") -> QuerySet[Order]:
    """Pickup orders at ``store`` waiting for the customer (ready, or still on their way), newest first;
    ``query`` finds one by pickup code, order number or the member's phone."""
    orders = (
        Order.objects.filter(store=store, fulfilment=Order.Fulfilment.PICKUP)
        .filter(status__in=["ready_for_pickup", "fulfilling", "paid"])
        .select_related("member")
        .prefetch_related("lines")
        .order_by("-ready_at", "-placed_at")
    )
    query = (query or "").strip()
    if not query:
        return orders
    if query.isdigit() and len(query) == 6:
        return orders.filter(pickup_code=query)
    if "-" in query and not query.replace("-", "").isdigit():
        return orders.filter(number__iexact=query)
    from members.services import normalize_phone

    try:
        return orders.filter(member__phone=normalize_phone(query))
    except ApplicationError:
        return orders.none()
