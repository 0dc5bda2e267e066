"""Reads of the stock pool, with their queries spelled out.

Availability answers a listing page (up to 100 SKUs) in three queries whatever the number of
locations: the variants, their stock rows with ATP above zero at active locations, and the channel's
fulfilment locations.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from django.db import connection
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from catalog.models import Product, Variant
from inventory.models import (
    ChannelLocation,
    ChannelStockBuffer,
    ChannelStockFeed,
    ChannelStockPublished,
    Lot,
    LotStock,
    StockLevel,
    StockMovement,
    Transfer,
)
from omo.org.access import scope_to_user
from omo.org.models import Location, SalesChannel

ATP = Greatest(F("on_hand") - F("reserved") - F("safety_stock"), Value(0))


def variant_ids_with_stock(variant_ids: list[int]) -> set[int]:
    return set(
        StockLevel.objects.filter(variant_id__in=variant_ids, on_hand__gt=0).values_list("variant_id", flat=True)
    )


def _fulfilment(channel: SalesChannel | None) -> tuple[dict[int, int], set[int] | None]:
    """(shipping location id -> priority, pickup store ids or None for "any active store")."""
    if channel is None:
        return {}, None
    rows = list(
        ChannelLocation.objects.filter(channel=channel, location__is_active=True).values_list(
            "location_id", "priority", "ships", "offers_pickup"
        )
    )
    ships = {loc: prio for loc, prio, can_ship, _p in rows if can_ship}
    pickup = {loc for loc, _prio, _s, offers in rows if offers}
    return ships, pickup


def availability(*, variants: list[Variant], channel: SalesChannel | None = None) -> dict[str, dict]:
    """Per SKU: ATP per location, what ships for ``channel``, which stores offer pickup now, and
    whether it can be ordered to any store (endless aisle: shipped there from a fulfilment location)."""
    ids = {v.pk: v for v in variants}
    rows = (
        StockLevel.objects.filter(variant_id__in=ids, location__is_active=True)
        .annotate(atp=ATP)
        .filter(atp__gt=0)
        .values_list("variant_id", "location_id", "location__code", "location__name", "location__kind", "atp")
        .order_by("variant_id", "location__code")
    )
    ships, pickup = _fulfilment(channel)
    result = {
        v.sku: {
            "sku": v.sku,
            "total_atp": 0,
            "ship_atp": 0,
            "pickup_stores": [],
            "locations": [],
            "order_to_store": False,
        }
        for v in variants
    }
    for variant_id, location_id, code, name, kind, atp in rows:
        entry = result[ids[variant_id].sku]
        entry["total_atp"] += atp
        entry["locations"].append({"location": code, "name": name, "kind": kind, "atp": atp})
        if channel is None or location_id in ships:
            entry["ship_atp"] += atp
        is_pickup = kind == Location.Kind.STORE and (pickup is None or location_id in pickup)
        if is_pickup:
            entry["pickup_stores"].append({"location": code, "name": name, "atp": atp})
    for entry in result.values():
        entry["order_to_store"] = entry["ship_atp"] > 0
    return result


def availability_summary(*, skus: list[str], channel: SalesChannel | None = None) -> dict[str, dict]:
    """For a listing page: per SKU, total ATP, what ships for ``channel``, and how many stores offer
    pickup now. Two queries whatever the number of locations: the channel's locations, then one
    aggregate from the variants (so an unknown SKU is simply missing from the answer). The channel's
    locations go in as id lists rather than a join, so the plan does not hinge on table statistics."""
    ships, pickup = _fulfilment(channel)
    variant, level, location = Variant._meta.db_table, StockLevel._meta.db_table, Location._meta.db_table
    atp = "(s.on_hand - s.reserved - s.safety_stock)"

    def among(ids) -> tuple[str, list]:
        if ids is None:
            return "1 = 1", []
        return (f"s.location_id IN ({', '.join(['%s'] * len(ids))})", list(ids)) if ids else ("1 = 0", [])

    ship_sql, ship_params = among(None if channel is None else ships)
    pickup_sql, pickup_params = among(pickup)
    sql = f"""
        SELECT v.sku, COALESCE(SUM({atp}), 0), COALESCE(SUM(CASE WHEN {ship_sql} THEN {atp} ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN l.kind = 'store' AND {pickup_sql} THEN 1 ELSE 0 END), 0)
        FROM {variant} v
        LEFT JOIN {level} s ON s.variant_id = v.id AND {atp} > 0
        LEFT JOIN {location} l ON l.id = s.location_id
        WHERE v.sku IN ({", ".join(["%s"] * len(skus)) or "NULL"}) AND (s.id IS NULL OR l.is_active)
        GROUP BY v.sku"""  # noqa: S608 - table names from the models, every value a parameter
    with connection.cursor() as cursor:
        cursor.execute(sql, [*ship_params, *pickup_params, *skus])
        rows = cursor.fetchall()
    return {
        sku: {"total_atp": int(total), "ship_atp": int(shipping), "pickup_store_count": int(stores)}
        for sku, total, shipping, stores in rows
    }


def cart_pickup_stores(*, lines: list[tuple[Variant, int]], channel: SalesChannel | None = None) -> list[dict]:
    """The stores that can hand over the whole cart now (each line's ATP covers its quantity)."""
    wanted: dict[int, int] = defaultdict(int)
    for variant, quantity in lines:
        wanted[variant.pk] += quantity
    _ships, pickup = _fulfilment(channel)
    rows = (
        StockLevel.objects.filter(variant_id__in=wanted, location__is_active=True, location__kind=Location.Kind.STORE)
        .annotate(atp=ATP)
        .values_list("location_id", "location__code", "location__name", "variant_id", "atp")
    )
    covered: dict[int, set[int]] = defaultdict(set)
    names: dict[int, tuple[str, str]] = {}
    for location_id, code, name, variant_id, atp in rows:
        if pickup is not None and location_id not in pickup:
            continue
        names[location_id] = (code, name)
        if atp >= wanted[variant_id]:
            covered[location_id].add(variant_id)
    return sorted(
        ({"location": names[loc][0], "name": names[loc][1]} for loc, got in covered.items() if got == set(wanted)),
        key=lambda s: s["location"],
    )


def stock_level_list(*, user) -> QuerySet[StockLevel]:
    return scope_to_user(StockLevel.objects.select_related("variant", "location").annotate(atp_value=ATP), user)


def movement_list(*, user) -> QuerySet[StockMovement]:
    return scope_to_user(StockMovement.objects.select_related("variant", "location", "lot", "created_by"), user)


def transfer_list(*, user) -> QuerySet[Transfer]:
    return scope_to_user(
        Transfer.objects.select_related("origin", "destination", "requested_by").prefetch_related("lines__variant"),
        user,
    )


def lots_expiring(*, user, within_days: int, today: date | None = None) -> QuerySet[LotStock]:
    """Lot stock on hand that expires within ``within_days`` (expired lots included), soonest first."""
    today = today or timezone.localdate()
    return scope_to_user(
        LotStock.objects.filter(on_hand__gt=0, lot__expiry_date__lte=today + timedelta(days=within_days))
        .select_related("lot__variant", "location")
        .order_by("lot__expiry_date", "location__code"),
        user,
    )


# --- channel stock feeds ------------------------------------------------------------------------------


def _in(column: str, ids) -> tuple[str, list]:
    ids = list(ids)
    return (f"{column} IN ({', '.join(['%s'] * len(ids))})", ids) if ids else ("1 = 0", [])


def channel_sellable(*, channel_ids, variant_ids=None, today: date | None = None) -> dict[tuple[int, int], int]:
    """The sellable quantity per (channel id, variant id): the ATP of the channel's active locations
    (its ``ChannelLocation`` rows) added up, less the channel's buffer (a SKU's own buffer where it has
    one), never below 0. ATP per location = on hand - reserved - safety stock, never below 0, where a
    lot-tracked product's on hand counts only its unexpired lots (as ``services._atp_of``).

    ``variant_ids``: those SKUs, or every SKU with a stock row at the channel's locations when None.
    One query whatever the number of channels, SKUs and locations; a SKU with no stock row at any of
    a channel's locations is missing from the answer (it has 0)."""
    today = today or timezone.localdate()
    channel_sql, channel_params = _in("cl.channel_id", channel_ids)
    if variant_ids is None:
        variant_sql, variant_params, lot_sql, lot_params = "1 = 1", [], "1 = 1", []
    else:
        variant_sql, variant_params = _in("s.variant_id", variant_ids)
        lot_sql, lot_params = _in("lot.variant_id", variant_ids)
    on_hand = (
        "CASE WHEN p.tracks_lots AND COALESCE(u.on_hand, 0) < s.on_hand THEN COALESCE(u.on_hand, 0) ELSE s.on_hand END"
    )
    atp = f"({on_hand}) - s.reserved - s.safety_stock"
    sellable = "a.atp - COALESCE(b.buffer, f.buffer, 0)"
    sql = f"""
        SELECT a.channel_id, a.variant_id, CASE WHEN {sellable} > 0 THEN {sellable} ELSE 0 END
        FROM (
            SELECT cl.channel_id, s.variant_id, SUM(CASE WHEN {atp} > 0 THEN {atp} ELSE 0 END) AS atp
            FROM {ChannelLocation._meta.db_table} cl
            JOIN {Location._meta.db_table} l ON l.id = cl.location_id AND l.is_active
            JOIN {StockLevel._meta.db_table} s ON s.location_id = cl.location_id
            JOIN {Variant._meta.db_table} v ON v.id = s.variant_id
            JOIN {Product._meta.db_table} p ON p.id = v.product_id
            LEFT JOIN (
                SELECT lot.variant_id, ls.location_id, SUM(ls.on_hand) AS on_hand
                FROM {LotStock._meta.db_table} ls JOIN {Lot._meta.db_table} lot ON lot.id = ls.lot_id
                WHERE lot.expiry_date >= %s AND {lot_sql}
                GROUP BY lot.variant_id, ls.location_id
            ) u ON p.tracks_lots AND u.variant_id = s.variant_id AND u.location_id = s.location_id
            WHERE {channel_sql} AND {variant_sql}
            GROUP BY cl.channel_id, s.variant_id
        ) a
        LEFT JOIN {ChannelStockFeed._meta.db_table} f ON f.channel_id = a.channel_id
        LEFT JOIN {ChannelStockBuffer._meta.db_table} b ON b.feed_id = f.id AND b.variant_id = a.variant_id
    """  # noqa: S608 - table names from the models, every value a parameter
    with connection.cursor() as cursor:
        cursor.execute(sql, [today, *lot_params, *channel_params, *variant_params])
        return {(channel_id, variant_id): int(quantity) for channel_id, variant_id, quantity in cursor.fetchall()}


def channel_stock_list(*, channel: SalesChannel) -> QuerySet[ChannelStockPublished]:
    """What ``channel`` was last told per SKU, oldest change first (so a puller pages forward)."""
    return (
        ChannelStockPublished.objects.filter(channel=channel).select_related("variant").order_by("published_at", "id")
    )
