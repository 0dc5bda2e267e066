"""Choosing where an online order's stock comes from. Strategies are pluggable: each is a function
from (lines, candidate locations with ATP) to a plan, registered by the name a channel is configured
with (``ChannelAllocation.strategy``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from django.db import connection
from django.utils.translation import gettext as _

from catalog.models import Variant
from inventory.models import AllocationStrategyChoice, ChannelAllocation, ChannelLocation, StockLevel
from inventory.services import InsufficientStock, StockLine
from omo.core.config_cache import cached
from omo.core.errors import BusinessRuleError
from omo.org.models import Location, SalesChannel

_LEVEL = StockLevel._meta.db_table

# A candidate: (location, ATP per variant id). A plan: [(variant, location, quantity)].
Candidate = tuple[Location, dict[int, int]]
Strategy = Callable[[list[tuple[Variant, int]], list[Candidate]], list[StockLine]]
STRATEGIES: dict[str, Strategy] = {}


def strategy(name: str):
    def register(fn: Strategy) -> Strategy:
        STRATEGIES[name] = fn
        return fn

    return register


def _greedy(lines, candidates) -> list[StockLine]:
    """Each line from the candidates in order, split across them when one cannot cover it."""
    plan, shortages = [], []
    for variant, quantity in lines:
        remaining = quantity
        for location, atp in candidates:
            take = min(atp.get(variant.pk, 0), remaining)
            if take > 0:
                plan.append(StockLine(variant, location, take))
                remaining -= take
            if remaining == 0:
                break
        if remaining:
            shortages.append(
                {"sku": variant.sku, "location": "*", "requested": quantity, "available": quantity - remaining}
            )
    if shortages:
        raise InsufficientStock(shortages)
    return plan


@strategy(AllocationStrategyChoice.WAREHOUSE_FIRST)
def warehouse_first(lines, candidates) -> list[StockLine]:
    """Warehouses first, then ship-from-store stores, each group by priority; split when needed."""
    ordered = sorted(candidates, key=lambda c: (c[0].kind != Location.Kind.WAREHOUSE,))  # stable: keeps priority
    return _greedy(lines, ordered)


@strategy(AllocationStrategyChoice.FEWEST_SHIPMENTS)
def fewest_shipments(lines, candidates) -> list[StockLine]:
    """The first location (by priority) that holds the whole order; otherwise as warehouse_first."""
    for location, atp in candidates:
        if all(atp.get(variant.pk, 0) >= quantity for variant, quantity in lines):
            return [StockLine(variant, location, quantity) for variant, quantity in lines]
    return warehouse_first(lines, candidates)


def allocation_plan(
    *, channel: SalesChannel, lines: list[tuple[Variant, int]], pickup_store: Location | None = None
) -> list[StockLine]:
    """Where each line comes from. Pickup: the chosen store only. Delivery: the channel's strategy over
    the channel's shipping locations in priority order."""
    merged: dict[int, tuple[Variant, int]] = {}
    for variant, quantity in lines:
        merged[variant.pk] = (variant, merged.get(variant.pk, (variant, 0))[1] + quantity)
    lines = list(merged.values())
    if pickup_store is not None:
        if not pickup_store.is_store:
            raise BusinessRuleError(_("Pickup is at a store."), code="not_a_store")
        if not ChannelLocation.objects.filter(channel=channel, location=pickup_store, offers_pickup=True).exists():
            raise BusinessRuleError(
                _("%(store)s does not offer pickup for %(channel)s.")
                % {"store": pickup_store.code, "channel": channel.code},
                code="pickup_not_offered",
            )
        return [StockLine(variant, pickup_store, quantity) for variant, quantity in lines]
    links, name = cached(("allocation", channel.pk), lambda: _channel_setup(channel))
    if not links:
        raise BusinessRuleError(
            _("Channel %(code)s has no shipping locations.") % {"code": channel.code}, code="no_fulfilment_locations"
        )
    atp: dict[int, dict[int, int]] = defaultdict(dict)
    # written out: this runs for every online order, and compiling the ORM query cost more than running it
    with connection.cursor() as cursor:
        variant_ids, location_ids = list(merged), [link.location_id for link in links]
        cursor.execute(
            f"SELECT location_id, variant_id, on_hand - reserved - safety_stock FROM {_LEVEL} "  # noqa: S608
            f"WHERE variant_id IN ({', '.join(['%s'] * len(variant_ids))}) "
            f"AND location_id IN ({', '.join(['%s'] * len(location_ids))})",
            [*variant_ids, *location_ids],
        )
        for location_id, variant_id, value in cursor.fetchall():
            atp[location_id][variant_id] = max(value, 0)
    candidates = [(link.location, atp[link.location_id]) for link in links]
    return STRATEGIES[name](lines, candidates)


def _channel_setup(channel: SalesChannel) -> tuple[list[ChannelLocation], str]:
    """The channel's shipping locations in priority order and its strategy (cached a few seconds)."""
    links = list(
        ChannelLocation.objects.filter(channel=channel, ships=True, location__is_active=True)
        .select_related("location")
        .order_by("priority", "location__code")
    )
    config = ChannelAllocation.objects.filter(channel=channel).first()
    return links, config.strategy if config else AllocationStrategyChoice.WAREHOUSE_FIRST
