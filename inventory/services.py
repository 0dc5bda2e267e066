"""Every write of the stock pool. On-hand stock changes only here, and only together with an
append-only ``StockMovement`` row, so on hand always equals the sum of the movements.

Concurrency: a stock row is changed by one conditional ``UPDATE ... WHERE <enough stock> RETURNING``,
which locks the row until commit; when several rows change in one transaction they are touched in
(variant id, location id) order, so two transactions never wait on each other in a cycle. All Python
work (validation, building rows) happens before the first locking statement.

Every change of a stock row announces itself with a ``stock.changed`` outbox event in the same
transaction (aggregate ``stock``, id ``"<variant id>@<location id>"``; payload: variant_id,
location_id, sku, location, on_hand, reserved, safety_stock after the change). On PostgreSQL the
event row is written by the very statement that changes the stock row (a data-modifying CTE), so it
costs the hot path no round trip; a service that may change one row several times (lots, a release
then a take) writes one event per row at its end instead (``_one_event_per_level``).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import Variant
from inventory.models import (
    ChannelLocation,
    GoodsReceipt,
    GoodsReceiptLine,
    Lot,
    LotStock,
    MovementKind,
    Reservation,
    SkuCost,
    StockCount,
    StockCountLine,
    StockLevel,
    StockMovement,
    Transfer,
    TransferLine,
    TransferLineLot,
)
from inventory.signals import transfer_received, transfer_receiving
from omo.core.errors import BusinessRuleError, ConflictError, NotFoundError
from omo.core.locks import advisory_xact_lock
from omo.events.models import OutboxEvent
from omo.events.services import event_emit, kick_after_commit, partition_of
from omo.org.access import ensure_permission, ensure_store_allowed, is_hq
from omo.org.models import Location, SalesChannel

DEFAULT_RESERVATION_TTL = timedelta(minutes=30)
MAX_LINES = 200
COST_PLACES = Decimal("0.0001")


class InsufficientStock(ConflictError):
    """Not enough available stock; ``details["lines"]`` names each short SKU and what is available."""

    default_code = "insufficient_stock"

    def __init__(self, shortages: list[dict]):
        super().__init__(
            _("Not enough stock for %(skus)s.") % {"skus": ", ".join(s["sku"] for s in shortages)},
            details={"lines": shortages},
        )


@dataclass(frozen=True)
class StockLine:
    """A quantity of one variant at one location."""

    variant: Variant
    location: Location
    quantity: int


# --- the two primitives: a conditional update of one stock row, and the ledger rows ------------------

_LEVEL = StockLevel._meta.db_table


def _ensure_levels(pairs) -> None:
    """Creates the missing stock rows (zero) for (variant_id, location_id) pairs, without locking."""
    StockLevel.objects.bulk_create(
        [StockLevel(variant_id=v, location_id=loc) for v, loc in sorted(set(pairs))], ignore_conflicts=True
    )


def _change_level(
    variant_id: int, location_id: int, *, on_hand: int = 0, reserved: int = 0, require_atp: int | None = None
) -> tuple[int, int] | None:
    """Adds ``on_hand`` and ``reserved`` to one stock row in one statement; None when the row is missing
    or the change would break a rule: on hand never below reserved (so never negative), reserved never
    negative, and with ``require_atp`` at least that much available to promise before the change.
    A change that happens writes its ``stock.changed`` event in the same transaction (see the module
    docstring): on PostgreSQL in the same statement."""
    condition = "on_hand + %s >= reserved + %s AND reserved + %s >= 0"
    params: list = [on_hand, reserved, reserved]
    if require_atp is not None:
        condition += " AND on_hand - reserved - safety_stock >= %s"
        params.append(require_atp)
    now = timezone.now()
    update = (
        f"UPDATE {_LEVEL} SET on_hand = on_hand + %s, reserved = reserved + %s, updated_at = %s "  # noqa: S608
        f"WHERE variant_id = %s AND location_id = %s AND {condition} "
        "RETURNING variant_id, location_id, on_hand, reserved, safety_stock"
    )
    update_params = [on_hand, reserved, now, variant_id, location_id, *params]
    collecting = _COLLECTING.get()
    key = (variant_id, location_id)
    if collecting is None and connection.vendor == "postgresql":
        aggregate_id, partition = _stock_aggregate(key)
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH u AS ({update}), e AS ({_STOCK_EVENT_INSERT}%s, %s FROM u s {_STOCK_EVENT_JOINS}) "  # noqa: S608
                "SELECT on_hand, reserved FROM u",
                [*update_params, *_stock_event_params(now), aggregate_id, partition],
            )
            row = cursor.fetchone()
        if row:
            kick_after_commit(partition)
        return (row[0], row[1]) if row else None
    with connection.cursor() as cursor:
        cursor.execute(update, update_params)
        row = cursor.fetchone()
    if row is None:
        return None
    if collecting is not None:
        collecting.add(key)
    else:
        _emit_stock_changed({key})
    return (row[2], row[3])


# --- stock.changed events ---------------------------------------------------------------------------

STOCK_CHANGED = "stock.changed"
STOCK_AGGREGATE = "stock"
_OUTBOX = OutboxEvent._meta.db_table
# An INSERT of one event per row ``s`` (variant_id, location_id, on_hand, reserved, safety_stock) with
# its variant ``v`` and location ``l``; the aggregate id and partition are a row's last two columns.
_STOCK_EVENT_INSERT = (
    f"INSERT INTO {_OUTBOX} (event_type, aggregate_type, created_at, next_attempt_at, attempts, "
    "last_error, channel_id, payload, aggregate_id, partition) "
    "SELECT %s, %s, %s, %s, 0, '', NULL, jsonb_build_object('variant_id', s.variant_id, "
    "'location_id', s.location_id, 'sku', v.sku, 'location', l.code, 'on_hand', s.on_hand, "
    "'reserved', s.reserved, 'safety_stock', s.safety_stock), "
)
_STOCK_EVENT_JOINS = (
    f"JOIN {Variant._meta.db_table} v ON v.id = s.variant_id JOIN {Location._meta.db_table} l ON l.id = s.location_id"
)
_COLLECTING: ContextVar[set | None] = ContextVar("inventory_stock_events", default=None)


def _stock_aggregate(key: tuple[int, int]) -> tuple[str, int]:
    aggregate_id = f"{key[0]}@{key[1]}"
    return aggregate_id, partition_of(STOCK_AGGREGATE, aggregate_id)


def _stock_event_params(now) -> list:
    return [STOCK_CHANGED, STOCK_AGGREGATE, now, now]


def _emit_stock_changed(keys) -> None:
    """One ``stock.changed`` event per (variant_id, location_id) in ``keys``, with the row's figures as
    they stand in this transaction: one INSERT on PostgreSQL, ``event_emit`` per row elsewhere."""
    if not keys:
        return
    if not connection.in_atomic_block:
        raise RuntimeError("stock.changed events are written inside the transaction of the change")
    ordered = sorted(keys)
    if connection.vendor != "postgresql":
        rows = (
            StockLevel.objects.filter(variant_id__in={v for v, _loc in ordered})
            .filter(location_id__in={loc for _v, loc in ordered})
            .values_list(
                "variant_id", "location_id", "variant__sku", "location__code", "on_hand", "reserved", "safety_stock"
            )
            .order_by("variant_id", "location_id")
        )
        for variant_id, location_id, sku, code, on_hand, reserved, safety in rows:
            if (variant_id, location_id) in keys:
                event_emit(
                    event_type=STOCK_CHANGED,
                    aggregate_type=STOCK_AGGREGATE,
                    aggregate_id=f"{variant_id}@{location_id}",
                    payload={
                        "variant_id": variant_id,
                        "location_id": location_id,
                        "sku": sku,
                        "location": code,
                        "on_hand": on_hand,
                        "reserved": reserved,
                        "safety_stock": safety,
                    },
                )
        return
    values, params = [], []
    partitions = set()
    for key in ordered:
        aggregate_id, partition = _stock_aggregate(key)
        values.append("(%s, %s, %s, %s)")
        params += [key[0], key[1], aggregate_id, partition]
        partitions.add(partition)
    with connection.cursor() as cursor:
        cursor.execute(
            f"{_STOCK_EVENT_INSERT}k.aggregate_id, k.partition "
            f"FROM (VALUES {', '.join(values)}) AS k(variant_id, location_id, aggregate_id, partition) "
            f"JOIN {_LEVEL} s ON s.variant_id = k.variant_id AND s.location_id = k.location_id "
            f"{_STOCK_EVENT_JOINS} ORDER BY s.variant_id, s.location_id",
            [*_stock_event_params(timezone.now()), *params],
        )
    for partition in sorted(partitions):
        kick_after_commit(partition)


def _one_event_per_level(service):
    """For a service that may change one stock row several times (lots, a release then a take): its
    ``stock.changed`` events are written at its end, one per row with the row's final figures, in one
    statement. Goes under ``@transaction.atomic``; a nested one joins the outer."""

    @functools.wraps(service)
    def wrapper(*args, **kwargs):
        if _COLLECTING.get() is not None:
            return service(*args, **kwargs)
        touched: set[tuple[int, int]] = set()
        token = _COLLECTING.set(touched)
        try:
            result = service(*args, **kwargs)
        finally:
            _COLLECTING.reset(token)
        _emit_stock_changed(touched)
        return result

    return wrapper


def _stock_changed(keys) -> None:
    """Announces rows changed other than by ``_change_level`` (their safety stock)."""
    collecting = _COLLECTING.get()
    if collecting is not None:
        collecting.update(keys)
    else:
        _emit_stock_changed(keys)


def _atp_of(variant_id: int, location_id: int, *, not_counting: int = 0) -> int:
    """Available to promise: on hand - reserved - safety, leaving out expired lots (and
    ``not_counting`` units this transaction has reserved itself)."""
    level = (
        StockLevel.objects.filter(variant_id=variant_id, location_id=location_id)
        .select_related("variant__product")
        .first()
    )
    if level is None:
        return 0
    if level.variant.product.tracks_lots:
        sellable = _sellable_lots(variant_id, location_id, today=timezone.localdate())
        return max(min(level.on_hand, sellable) - (level.reserved - not_counting) - level.safety_stock, 0)
    return max(level.on_hand - (level.reserved - not_counting) - level.safety_stock, 0)


def _sellable_lots(variant_id: int, location_id: int, *, today: date) -> int:
    """Unexpired lot stock of a SKU at a location (read while its stock level row is locked)."""
    return (
        LotStock.objects.filter(
            lot__variant_id=variant_id, location_id=location_id, lot__expiry_date__gte=today
        ).aggregate(total=Sum("on_hand"))["total"]
        or 0
    )


def _shortage(variant: Variant, location: Location, requested: int, available: int) -> dict:
    return {"sku": variant.sku, "location": location.code, "requested": requested, "available": max(available, 0)}


def _movement(
    variant_id,
    location_id,
    kind,
    quantity,
    on_hand_after,
    *,
    actor,
    reason="",
    ref=("", ""),
    lot_id=None,
    unit_cost=None,
) -> StockMovement:
    return StockMovement(
        variant_id=variant_id,
        location_id=location_id,
        kind=kind,
        quantity=quantity,
        on_hand_after=on_hand_after,
        lot_id=lot_id,
        unit_cost=unit_cost,
        reason=reason,
        reference_type=ref[0],
        reference_id=str(ref[1]),
        created_by=actor if getattr(actor, "pk", None) else None,
    )


def _check_quantity(quantity: int) -> None:
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
        raise BusinessRuleError(
            _("Quantities must be whole numbers above zero."), code="invalid_quantity", details={"quantity": quantity}
        )


def _merge(lines: list[StockLine]) -> dict[tuple[int, int], tuple[Variant, Location, int]]:
    """Lines summed per (variant, location), validated, in lock order."""
    if not lines:
        raise BusinessRuleError(_("Give at least one line."), code="no_lines")
    if len(lines) > MAX_LINES:
        raise BusinessRuleError(_("At most %(n)d lines at once.") % {"n": MAX_LINES}, code="too_many_lines")
    merged: dict[tuple[int, int], tuple[Variant, Location, int]] = {}
    for line in lines:
        _check_quantity(line.quantity)
        if not line.location.is_active:
            raise BusinessRuleError(
                _("Location %(code)s is not active.") % {"code": line.location.code}, code="location_inactive"
            )
        key = (line.variant.pk, line.location.pk)
        previous = merged.get(key, (line.variant, line.location, 0))[2]
        merged[key] = (line.variant, line.location, previous + line.quantity)
    return dict(sorted(merged.items()))


# --- lots -------------------------------------------------------------------------------------------


def _take_lots(variant: Variant, location: Location, quantity: int, *, today: date) -> list[tuple[int, int]]:
    """Takes ``quantity`` from the unexpired lots at ``location``, first to expire first.
    Returns [(lot_id, quantity)]; raises InsufficientStock when unexpired lots do not cover it."""
    stocks = list(
        LotStock.objects.select_for_update(of=("self",))
        .filter(lot__variant=variant, location=location, on_hand__gt=0, lot__expiry_date__gte=today)
        .select_related("lot")
        .order_by("lot__expiry_date", "lot_id")
    )
    taken, remaining = [], quantity
    for stock in stocks:
        if remaining == 0:
            break
        take = min(stock.on_hand, remaining)
        taken.append((stock.pk, stock.lot_id, take))
        remaining -= take
    if remaining:
        raise InsufficientStock([_shortage(variant, location, quantity, quantity - remaining)])
    for stock_id, _lot_id, take in taken:
        LotStock.objects.filter(pk=stock_id).update(on_hand=F("on_hand") - take)
    return [(lot_id, take) for _stock_id, lot_id, take in taken]


def _put_lot(lot_id: int, location_id: int, quantity: int) -> None:
    LotStock.objects.bulk_create([LotStock(lot_id=lot_id, location_id=location_id)], ignore_conflicts=True)
    LotStock.objects.filter(lot_id=lot_id, location_id=location_id).update(on_hand=F("on_hand") + quantity)


def lot_get_or_create(*, variant: Variant, code: str, expiry_date: date) -> Lot:
    code = (code or "").strip()
    if not code or expiry_date is None:
        raise BusinessRuleError(
            _("%(sku)s is kept by lot: give a lot code and an expiry date.") % {"sku": variant.sku},
            code="lot_required",
        )
    lot, created = Lot.objects.get_or_create(variant=variant, code=code, defaults={"expiry_date": expiry_date})
    if not created and lot.expiry_date != expiry_date:
        raise BusinessRuleError(
            _("Lot %(code)s of %(sku)s expires on %(date)s, not %(other)s.")
            % {"code": code, "sku": variant.sku, "date": lot.expiry_date, "other": expiry_date},
            code="lot_expiry_mismatch",
        )
    return lot


# --- moving stock in and out ------------------------------------------------------------------------


def _stock_out(
    variant: Variant,
    location: Location,
    quantity: int,
    *,
    kind: str,
    actor,
    reason="",
    ref=("", ""),
    from_reserved: int = 0,
    today: date | None = None,
) -> list[StockMovement]:
    """Takes ``quantity`` out of on hand (``from_reserved`` of it out of this row's reservations too).
    Stock promised to reservations cannot be taken by anything else."""
    result = _change_level(variant.pk, location.pk, on_hand=-quantity, reserved=-from_reserved)
    if result is None:
        available = _atp_of(variant.pk, location.pk) + from_reserved
        raise InsufficientStock([_shortage(variant, location, quantity, available)])
    on_hand_after = result[0]
    if not variant.product.tracks_lots:
        return [_movement(variant.pk, location.pk, kind, -quantity, on_hand_after, actor=actor, reason=reason, ref=ref)]
    today = today or timezone.localdate()
    taken = _take_lots(variant, location, quantity, today=today)
    if _sellable_lots(variant.pk, location.pk, today=today) < result[1]:
        # what is left unexpired no longer covers the reservations: this stock was promised
        raise InsufficientStock([_shortage(variant, location, quantity, _atp_of(variant.pk, location.pk))])
    rows, after = [], on_hand_after + quantity
    for lot_id, take in taken:
        after -= take
        rows.append(
            _movement(variant.pk, location.pk, kind, -take, after, actor=actor, reason=reason, ref=ref, lot_id=lot_id)
        )
    return rows


def _stock_in(
    variant: Variant,
    location: Location,
    quantity: int,
    *,
    kind: str,
    actor,
    reason="",
    ref=("", ""),
    lot: Lot | None = None,
    unit_cost=None,
) -> StockMovement:
    if variant.product.tracks_lots and lot is None:
        raise BusinessRuleError(_("%(sku)s is kept by lot: say which lot.") % {"sku": variant.sku}, code="lot_required")
    result = _change_level(variant.pk, location.pk, on_hand=quantity)
    if result is None:  # the row did not exist yet
        _ensure_levels([(variant.pk, location.pk)])
        result = _change_level(variant.pk, location.pk, on_hand=quantity)
    if lot is not None:
        _put_lot(lot.pk, location.pk, quantity)
    return _movement(
        variant.pk,
        location.pk,
        kind,
        quantity,
        result[0],
        actor=actor,
        reason=reason,
        ref=ref,
        lot_id=lot.pk if lot else None,
        unit_cost=unit_cost,
    )


@transaction.atomic
def stock_adjust(
    *, variant: Variant, location: Location, quantity: int, reason: str, actor, lot: Lot | None = None
) -> list[StockMovement]:
    """A manual correction (found, damaged, lost ...): ``quantity`` is signed and a reason is required."""
    if actor is not None:
        ensure_permission(actor, "inventory.add_stockmovement")
        ensure_store_allowed(actor, location.pk)
    if not isinstance(quantity, int) or quantity == 0:
        raise BusinessRuleError(
            _("An adjustment changes stock by a whole number other than zero."), code="invalid_quantity"
        )
    if not reason.strip():
        raise BusinessRuleError(_("Say why the stock is adjusted."), code="reason_required")
    if quantity > 0:
        rows = [
            _stock_in(variant, location, quantity, kind=MovementKind.ADJUSTMENT, actor=actor, reason=reason, lot=lot)
        ]
    elif lot is not None:  # a named lot (damaged, lost): that lot, not the first to expire
        rows = [
            _lot_out(
                variant,
                location,
                lot,
                -quantity,
                kind=MovementKind.ADJUSTMENT,
                actor=actor,
                ref=("", ""),
                reason=reason,
            )
        ]
    else:
        rows = _stock_out(variant, location, -quantity, kind=MovementKind.ADJUSTMENT, actor=actor, reason=reason)
    return StockMovement.objects.bulk_create(rows)


@transaction.atomic
def stock_sell(*, lines: list[StockLine], actor, reference: str, reason: str = "") -> list[StockMovement]:
    """Stock leaving with a sale that held no reservation (a POS sale over the counter)."""
    merged = _merge(lines)
    rows = []
    for variant, location, quantity in merged.values():
        rows += _stock_out(
            variant, location, quantity, kind=MovementKind.SALE, actor=actor, reason=reason, ref=("sale", reference)
        )
    return StockMovement.objects.bulk_create(rows)


@transaction.atomic
def stock_return(
    *,
    variant: Variant,
    location: Location,
    quantity: int,
    actor,
    reference: str,
    lot: Lot | None = None,
    reason: str = "",
) -> StockMovement:
    """Goods a customer brought back, put back on hand at ``location``."""
    _check_quantity(quantity)
    row = _stock_in(
        variant,
        location,
        quantity,
        kind=MovementKind.RETURN,
        actor=actor,
        reason=reason,
        ref=("return", reference),
        lot=lot,
    )
    row.save()
    return row


@transaction.atomic
def stock_level_configure(
    *,
    variant: Variant,
    location: Location,
    actor,
    safety_stock: int | None = None,
    min_level: int | None = ...,
    max_level: int | None = ...,
) -> StockLevel:
    """Safety stock and the min/max replenishment levels of one SKU at one location."""
    if actor is not None:
        ensure_permission(actor, "inventory.change_stocklevel")
        ensure_store_allowed(actor, location.pk)
    _ensure_levels([(variant.pk, location.pk)])
    level = StockLevel.objects.select_for_update().get(variant=variant, location=location)
    safety_before = level.safety_stock
    if safety_stock is not None:
        if safety_stock < 0:
            raise BusinessRuleError(_("Safety stock cannot be negative."), code="invalid_quantity")
        level.safety_stock = safety_stock
    if min_level is not ...:
        level.min_level = min_level
    if max_level is not ...:
        level.max_level = max_level
    if (level.min_level is not None and level.min_level < 0) or (
        level.min_level is not None and level.max_level is not None and level.max_level < level.min_level
    ):
        raise BusinessRuleError(_("Use 0 <= minimum <= maximum."), code="invalid_min_max")
    level.save()
    if level.safety_stock != safety_before:  # ATP moved: the channels' stock feeds must hear of it
        _stock_changed({(variant.pk, location.pk)})
    return level


# --- reservations -----------------------------------------------------------------------------------


@transaction.atomic
def reservation_create(**kwargs) -> list[Reservation]:
    """Holds stock for a cart or an order, all lines or none (see ``reservation_create_in_transaction``)."""
    return reservation_create_in_transaction(**kwargs)


def reservation_create_in_transaction(
    *,
    lines: list[StockLine],
    reference: str,
    channel: SalesChannel | None = None,
    ttl: timedelta | None = DEFAULT_RESERVATION_TTL,
    actor=None,
    promised: bool = False,
) -> list[Reservation]:
    """Holds stock for a cart or an order, all lines or none, in the caller's open transaction, which a
    refusal must roll back (an order placement: no SAVEPOINT round trip while a hot stock row is
    locked). ``ttl=None`` holds until consumed or released (a placed order); otherwise it expires and
    a beat job releases it. ``promised`` holds units already promised to the customer (a transfer
    brought them for the order): they need only be on hand, the safety stock does not count."""
    if not connection.in_atomic_block:
        raise RuntimeError("reservation_create_in_transaction needs an open transaction")
    if not reference or len(reference) > 64:
        raise BusinessRuleError(
            _("A reservation needs a reference of at most 64 characters."), code="invalid_reference"
        )
    merged = _merge(lines)
    if actor is not None:  # staff holding stock for a customer: their role, at their own store
        ensure_permission(actor, "inventory.add_reservation")
        for location_id in {loc for _variant, loc in merged}:
            ensure_store_allowed(actor, location_id)
    if channel is not None:  # a channel holds stock only where it is served from
        served = set(ChannelLocation.objects.filter(channel=channel).values_list("location_id", flat=True))
        outside = sorted({merged[key][1].code for key in merged if key[1] not in served})
        if outside:
            raise BusinessRuleError(
                _("Channel %(channel)s is not served from %(codes)s.")
                % {"channel": channel.code, "codes": ", ".join(outside)},
                code="location_not_in_channel",
                details={"locations": outside},
            )
    expires_at = timezone.now() + ttl if ttl else None
    created_by = actor if getattr(actor, "pk", None) else None
    # The reservation rows are inserted before the stock rows are touched: an insert locks nothing
    # others wait for, so each hot stock row stays locked only from its conditional update to the
    # commit. When a line is short, raising rolls the inserts back with everything else.
    reservations = [
        Reservation(
            variant_id=variant_id,
            location_id=location_id,
            quantity=quantity,
            reference=reference,
            channel=channel,
            expires_at=expires_at,
            created_by=created_by,
            status=Reservation.Status.ACTIVE,
        )
        for (variant_id, location_id), (_variant, _location, quantity) in merged.items()
    ]
    _insert_reservations(reservations)
    failed = {}  # key -> what this call already added to reserved there
    today = timezone.localdate()
    for key, (variant, _location, quantity) in merged.items():
        after = _change_level(*key, reserved=quantity, require_atp=None if promised else quantity)
        if after is None:
            failed[key] = 0
        elif variant.product.tracks_lots and _sellable_lots(*key, today=today) < after[1]:
            failed[key] = quantity  # only expired lots would stand behind the promise
    if failed:
        shortages = [
            _shortage(merged[key][0], merged[key][1], merged[key][2], _atp_of(*key, not_counting=applied))
            for key, applied in failed.items()
        ]
        raise InsufficientStock(shortages)  # the atomic block rolls back the inserts and what was reserved
    return reservations


_RESERVATION = Reservation._meta.db_table
_RESERVATION_COLUMNS = (
    "variant_id",
    "location_id",
    "quantity",
    "status",
    "reference",
    "channel_id",
    "expires_at",
    "created_by_id",
    "created_at",
)


def _insert_reservations(reservations: list[Reservation]) -> None:
    """One ``INSERT ... RETURNING id`` for all rows: the hot path of a flash sale, written out by hand
    because the ORM's bulk_create spends more Python time than the insert itself."""
    now = timezone.now()
    values, params = [], []
    for r in reservations:
        r.created_at = now
        values.append("(" + ", ".join(["%s"] * len(_RESERVATION_COLUMNS)) + ")")
        params += [
            r.variant_id,
            r.location_id,
            r.quantity,
            r.status,
            r.reference,
            r.channel_id,
            r.expires_at,
            r.created_by_id,
            now,
        ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_RESERVATION} ({', '.join(_RESERVATION_COLUMNS)}) VALUES {', '.join(values)} "  # noqa: S608
            "RETURNING id",
            params,
        )
        for reservation, (pk,) in zip(reservations, cursor.fetchall(), strict=True):
            reservation.pk = pk
            reservation._state.adding = False


def _close(reservations_qs, status: str) -> list[tuple[int, int, int]]:
    """Marks active reservations closed (one UPDATE, so two closers cannot both win); returns what
    was active as (variant_id, location_id, quantity) in lock order."""
    rows = list(
        reservations_qs.filter(status=Reservation.Status.ACTIVE)
        .select_for_update(skip_locked=False)
        .order_by("pk")
        .values_list("pk", "variant_id", "location_id", "quantity")
    )
    if not rows:
        return []
    Reservation.objects.filter(pk__in=[r[0] for r in rows]).update(status=status, closed_at=timezone.now())
    totals: dict[tuple[int, int], int] = defaultdict(int)
    for _pk, variant_id, location_id, quantity in rows:
        totals[(variant_id, location_id)] += quantity
    return [(v, loc, q) for (v, loc), q in sorted(totals.items())]


@transaction.atomic
def reservation_release(*, reference: str, status: str = Reservation.Status.RELEASED) -> int:
    """Gives back what ``reference`` holds; returns how many units were released. Idempotent."""
    released = 0
    for variant_id, location_id, quantity in _close(Reservation.objects.filter(reference=reference), status):
        if _change_level(variant_id, location_id, reserved=-quantity) is None:
            raise ConflictError("reserved stock out of step", code="ledger_mismatch")
        released += quantity
    return released


@transaction.atomic
def reservation_consume(
    *, reference: str, actor, kind: str = MovementKind.SALE, only: list[StockLine] | None = None
) -> list[StockMovement]:
    """The reserved stock leaves (the order shipped or was handed over): on hand and reserved go down.
    ``only`` consumes part of what ``reference`` holds (a shipment from one location, a pickup batch);
    asking for more than is held there is a 409 ``reservation_short``."""
    return reservation_consume_in_transaction(reference=reference, actor=actor, kind=kind, only=only)


def reservation_consume_in_transaction(
    *, reference: str, actor, kind: str = MovementKind.SALE, only: list[StockLine] | None = None
) -> list[StockMovement]:
    """``reservation_consume`` for a caller in a transaction that any error rolls back whole (an order
    being handed over): no savepoint of its own."""
    variants: dict[int, Variant] = {}
    locations: dict[int, Location] = {}
    if only is not None:
        closing = _take_reserved(reference, only)
        for line in only:  # the caller's objects, when they come with their product
            if Variant.product.is_cached(line.variant):
                variants[line.variant.pk] = line.variant
            locations[line.location.pk] = line.location
    else:
        closing = _close(Reservation.objects.filter(reference=reference), Reservation.Status.CONSUMED)
    if not closing:
        raise NotFoundError(_("No active reservation for %(ref)s.") % {"ref": reference}, code="reservation_not_found")
    if missing := {v for v, _loc, _q in closing} - set(variants):
        variants |= Variant.objects.select_related("product").in_bulk(missing)
    if missing := {loc for _v, loc, _q in closing} - set(locations):
        locations |= Location.objects.in_bulk(missing)
    rows = []
    for variant_id, location_id, quantity in closing:
        rows += _stock_out(
            variants[variant_id],
            locations[location_id],
            quantity,
            kind=kind,
            actor=actor,
            ref=("reservation", reference),
            from_reserved=quantity,
        )
    return StockMovement.objects.bulk_create(rows)


def _take_reserved(reference: str, lines: list[StockLine]) -> list[tuple[int, int, int]]:
    """Takes ``lines`` out of the active reservations of ``reference`` (rows locked in pk order);
    a row used up is marked consumed, a row used in part keeps the rest."""
    merged = _merge(lines)
    rows = list(
        Reservation.objects.select_for_update()
        .filter(reference=reference, status=Reservation.Status.ACTIVE)
        .order_by("pk")
    )
    taken, used_up = [], []
    for (variant_id, location_id), (variant, location, quantity) in sorted(merged.items()):
        held = [r for r in rows if r.variant_id == variant_id and r.location_id == location_id]
        if sum(r.quantity for r in held) < quantity:
            raise ConflictError(
                _("%(ref)s holds fewer than %(n)d of %(sku)s at %(loc)s.")
                % {"ref": reference, "n": quantity, "sku": variant.sku, "loc": location.code},
                code="reservation_short",
                details={"sku": variant.sku, "location": location.code, "held": sum(r.quantity for r in held)},
            )
        left = quantity
        for row in held:
            take = min(row.quantity, left)
            if take == row.quantity:
                used_up.append(row.pk)
            else:
                Reservation.objects.filter(pk=row.pk).update(quantity=F("quantity") - take)
            left -= take
            if left == 0:
                break
        taken.append((variant_id, location_id, quantity))
    if used_up:  # one update for every row used up
        Reservation.objects.filter(pk__in=used_up).update(status=Reservation.Status.CONSUMED, closed_at=timezone.now())
    return taken


def reservations_expire(*, now=None, batch_size: int = 500) -> int:
    """Releases active reservations past their expiry, a batch per transaction (beat job)."""
    now = now or timezone.now()
    expired = 0
    while True:
        with transaction.atomic():
            batch = list(
                Reservation.objects.filter(status=Reservation.Status.ACTIVE, expires_at__lte=now)
                .select_for_update(skip_locked=True)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if not batch:
                return expired
            for variant_id, location_id, quantity in _close(
                Reservation.objects.filter(pk__in=batch), Reservation.Status.EXPIRED
            ):
                if _change_level(variant_id, location_id, reserved=-quantity) is None:
                    raise ConflictError("reserved stock out of step", code="ledger_mismatch")
            expired += len(batch)


# --- goods receipts and moving-average cost ---------------------------------------------------------


@transaction.atomic
def goods_receipt_create(
    *, location: Location, supplier: str, lines: list[dict], actor, supplier_reference: str = ""
) -> GoodsReceipt:
    """A draft receipt; ``lines`` are dicts with variant, quantity, unit_cost and, for perishables,
    lot_code and expiry_date."""
    if actor is not None:
        ensure_permission(actor, "inventory.add_goodsreceipt")
        ensure_store_allowed(actor, location.pk)
    if not lines:
        raise BusinessRuleError(_("Give at least one line."), code="no_lines")
    receipt = GoodsReceipt(
        location=location,
        supplier=supplier,
        supplier_reference=supplier_reference,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    receipt.full_clean()
    receipt.save()
    rows = []
    for line in lines:
        _check_quantity(line["quantity"])
        cost = Decimal(line["unit_cost"])
        if cost < 0:
            raise BusinessRuleError(_("A cost cannot be negative."), code="invalid_cost")
        variant = line["variant"]
        if variant.product.tracks_lots and not (line.get("lot_code") and line.get("expiry_date")):
            raise BusinessRuleError(
                _("%(sku)s is kept by lot: give a lot code and an expiry date.") % {"sku": variant.sku},
                code="lot_required",
            )
        rows.append(
            GoodsReceiptLine(
                receipt=receipt,
                variant=variant,
                quantity=line["quantity"],
                unit_cost=cost,
                lot_code=line.get("lot_code") or "",
                expiry_date=line.get("expiry_date"),
            )
        )
    GoodsReceiptLine.objects.bulk_create(rows)
    return receipt


@transaction.atomic
@_one_event_per_level
def goods_receipt_post(*, receipt: GoodsReceipt, actor) -> GoodsReceipt:
    """Puts the goods on hand and updates each SKU's moving-average cost. Posting twice is refused."""
    if actor is not None:
        ensure_permission(actor, "inventory.change_goodsreceipt")
        ensure_store_allowed(actor, receipt.location_id)
    receipt = GoodsReceipt.objects.select_for_update(of=("self",)).select_related("location").get(pk=receipt.pk)
    if receipt.status != GoodsReceipt.Status.DRAFT:
        raise ConflictError(_("This goods receipt is already posted."), code="already_posted")
    lines = list(receipt.lines.select_related("variant__product").order_by("variant_id", "id"))
    # The cost rows serialise receipts of the same SKU: the average needs the quantity before this one.
    incoming: dict[int, list[GoodsReceiptLine]] = defaultdict(list)
    for line in lines:
        incoming[line.variant_id].append(line)
    _update_average_costs(incoming)
    rows = []
    for line in lines:
        lot = None
        if line.variant.product.tracks_lots:
            lot = lot_get_or_create(variant=line.variant, code=line.lot_code, expiry_date=line.expiry_date)
        rows.append(
            _stock_in(
                line.variant,
                receipt.location,
                line.quantity,
                kind=MovementKind.RECEIPT,
                actor=actor,
                ref=("goods_receipt", receipt.pk),
                lot=lot,
                unit_cost=line.unit_cost,
                reason=receipt.supplier,
            )
        )
    StockMovement.objects.bulk_create(rows)
    receipt.status = GoodsReceipt.Status.POSTED
    receipt.posted_by = actor if getattr(actor, "pk", None) else None
    receipt.posted_at = timezone.now()
    receipt.save(update_fields=["status", "posted_by", "posted_at"])
    return receipt


def _update_average_costs(incoming: dict[int, list[GoodsReceiptLine]]) -> None:
    SkuCost.objects.bulk_create(
        [SkuCost(variant_id=v, average_cost=Decimal(0)) for v in incoming], ignore_conflicts=True
    )
    costs = {
        c.variant_id: c
        for c in SkuCost.objects.select_for_update().filter(variant_id__in=incoming).order_by("variant_id")
    }
    on_hand = dict(
        StockLevel.objects.filter(variant_id__in=incoming)
        .values("variant_id")
        .annotate(total=Sum("on_hand"))
        .values_list("variant_id", "total")
    )
    # Goods in transit left one location and have not reached the next: still ours, at the old cost.
    for variant_id, in_transit in (
        TransferLine.objects.filter(variant_id__in=incoming, transfer__status=Transfer.Status.SHIPPED)
        .values("variant_id")
        .annotate(total=Sum("quantity_shipped"))
        .values_list("variant_id", "total")
    ):
        on_hand[variant_id] = (on_hand.get(variant_id) or 0) + in_transit
    for variant_id, lines in incoming.items():
        quantity = on_hand.get(variant_id) or 0
        value = costs[variant_id].average_cost * quantity
        for line in lines:
            value += line.unit_cost * line.quantity
            quantity += line.quantity
        costs[variant_id].average_cost = (value / quantity).quantize(COST_PLACES, rounding=ROUND_HALF_UP)
    SkuCost.objects.bulk_update(costs.values(), ["average_cost", "updated_at"])


# --- transfers (調撥) ---------------------------------------------------------------------------------


def _transfer_for_update(transfer: Transfer) -> Transfer:
    return Transfer.objects.select_for_update(of=("self",)).select_related("origin", "destination").get(pk=transfer.pk)


def _require_status(transfer: Transfer, *allowed: str) -> None:
    if transfer.status not in allowed:
        raise ConflictError(
            _("Transfer %(code)s is %(status)s.") % {"code": transfer, "status": transfer.get_status_display()},
            code="transfer_wrong_status",
            details={"status": transfer.status},
        )


def _stamp(actor):
    return actor if getattr(actor, "pk", None) else None


@transaction.atomic
def transfer_request(
    *,
    origin: Location,
    destination: Location,
    lines: list[tuple[Variant, int]],
    actor,
    kind: str = Transfer.Kind.MANUAL,
    note: str = "",
    reservation_reference: str = "",
    approved: bool = False,
) -> Transfer:
    """A transfer request. HQ may move stock between any two locations; store staff may request
    replenishment into their own store."""
    if actor is not None:
        ensure_permission(actor, "inventory.add_transfer")
        if not is_hq(actor):
            ensure_store_allowed(actor, destination.pk)
            kind = Transfer.Kind.REPLENISHMENT
    if origin.pk == destination.pk:
        raise BusinessRuleError(_("A transfer goes between two different locations."), code="same_location")
    for location in (origin, destination):
        if not location.is_active:
            raise BusinessRuleError(
                _("Location %(code)s is not active.") % {"code": location.code}, code="location_inactive"
            )
    if not lines:
        raise BusinessRuleError(_("Give at least one line."), code="no_lines")
    merged: dict[int, tuple[Variant, int]] = {}
    for variant, quantity in lines:
        _check_quantity(quantity)
        merged[variant.pk] = (variant, merged.get(variant.pk, (variant, 0))[1] + quantity)
    now = timezone.now()
    transfer = Transfer.objects.create(
        origin=origin,
        destination=destination,
        kind=kind,
        note=note,
        requested_by=_stamp(actor),
        reservation_reference=reservation_reference,
        # a customer order's transfer is approved by the order itself
        status=Transfer.Status.APPROVED if approved else Transfer.Status.REQUESTED,
        approved_by=_stamp(actor) if approved else None,
        approved_at=now if approved else None,
    )
    TransferLine.objects.bulk_create(
        [TransferLine(transfer=transfer, variant=v, quantity_requested=q) for v, q in merged.values()]
    )
    return transfer


@transaction.atomic
def transfer_approve(*, transfer: Transfer, actor) -> Transfer:
    """HQ approves any transfer; a store manager approves transfers out of their own store."""
    transfer = _transfer_for_update(transfer)
    if actor is not None:
        ensure_permission(actor, "inventory.approve_transfer")
        if not is_hq(actor):
            ensure_store_allowed(actor, transfer.origin_id)
    _require_status(transfer, Transfer.Status.REQUESTED)
    transfer.status, transfer.approved_by, transfer.approved_at = (
        Transfer.Status.APPROVED,
        _stamp(actor),
        timezone.now(),
    )
    transfer.save(update_fields=["status", "approved_by", "approved_at"])
    return transfer


@transaction.atomic
@_one_event_per_level
def transfer_ship(*, transfer: Transfer, actor, quantities: dict[int, int] | None = None) -> Transfer:
    """The goods leave the origin and are in transit. ``quantities`` ({variant_id: n}) ships less than
    requested; by default all. Lots go first to expire first."""
    transfer = _transfer_for_update(transfer)
    if actor is not None:
        ensure_permission(actor, "inventory.change_transfer")
        ensure_store_allowed(actor, transfer.origin_id)
    _require_status(transfer, Transfer.Status.APPROVED)
    lines = list(transfer.lines.select_related("variant__product").order_by("variant_id"))
    quantities = quantities or {}
    unknown = set(quantities) - {line.variant_id for line in lines}
    if unknown:
        raise BusinessRuleError(
            _("These SKUs are not on the transfer."), code="unknown_line", details={"variants": sorted(unknown)}
        )
    if transfer.reservation_reference:  # the stock held for the customer order leaves with the transfer
        reservation_release(reference=transfer.reservation_reference, status=Reservation.Status.CONSUMED)
    rows, lot_rows = [], []
    for line in lines:
        quantity = quantities.get(line.variant_id, line.quantity_requested)
        if not isinstance(quantity, int) or quantity < 0 or quantity > line.quantity_requested:
            raise BusinessRuleError(
                _("Ship between 0 and the requested quantity."),
                code="invalid_quantity",
                details={"variant": line.variant_id, "quantity": quantity},
            )
        line.quantity_shipped = quantity
        if quantity == 0:
            continue
        moved = _stock_out(
            line.variant,
            transfer.origin,
            quantity,
            kind=MovementKind.TRANSFER_OUT,
            actor=actor,
            ref=("transfer", transfer.pk),
        )
        rows += moved
        lot_rows += [TransferLineLot(line=line, lot_id=m.lot_id, quantity=-m.quantity) for m in moved if m.lot_id]
    if not rows:
        raise BusinessRuleError(_("Nothing to ship."), code="nothing_to_ship")
    StockMovement.objects.bulk_create(rows)
    TransferLineLot.objects.bulk_create(lot_rows)
    TransferLine.objects.bulk_update(lines, ["quantity_shipped"])
    transfer.status, transfer.shipped_by, transfer.shipped_at = Transfer.Status.SHIPPED, _stamp(actor), timezone.now()
    transfer.save(update_fields=["status", "shipped_by", "shipped_at"])
    return transfer


@transaction.atomic
@_one_event_per_level
def transfer_receive(*, transfer: Transfer, actor, received: dict[int, tuple[int, str]] | None = None) -> Transfer:
    """The goods arrive. ``received`` ({variant_id: (counted, note)}) records what was counted; any
    difference from what was shipped needs a discrepancy note. By default all that was shipped."""
    # whoever the transfer serves (a customer order) is locked first: the same order as cancelling it
    transfer_receiving.send(sender=Transfer, transfer=transfer)
    transfer = _transfer_for_update(transfer)
    if actor is not None:
        ensure_permission(actor, "inventory.change_transfer")
        ensure_store_allowed(actor, transfer.destination_id)
    _require_status(transfer, Transfer.Status.SHIPPED)
    lines = list(transfer.lines.select_related("variant__product").prefetch_related("lots__lot").order_by("variant_id"))
    received = received or {}
    unknown = set(received) - {line.variant_id for line in lines}
    if unknown:
        raise BusinessRuleError(
            _("These SKUs are not on the transfer."), code="unknown_line", details={"variants": sorted(unknown)}
        )
    rows = []
    for line in lines:
        counted, note = received.get(line.variant_id, (line.quantity_shipped, ""))
        if not isinstance(counted, int) or isinstance(counted, bool) or counted < 0:
            raise BusinessRuleError(
                _("Received quantities are whole numbers, zero or more."),
                code="invalid_quantity",
                details={"variant": line.variant_id},
            )
        # More than shipped can arrive (the origin miscounted), but never more than was requested;
        # for a perishable, never more than shipped (an extra unit would have no lot). Anything else
        # is a stock adjustment, which needs its own permission.
        ceiling = line.quantity_shipped if line.variant.product.tracks_lots else line.quantity_requested
        if counted > ceiling:
            raise BusinessRuleError(
                _("%(sku)s: at most %(n)d can be received on this transfer; book the rest as an adjustment.")
                % {"sku": line.variant.sku, "n": ceiling},
                code="receipt_above_transfer",
                details={"sku": line.variant.sku, "maximum": ceiling},
            )
        if counted != line.quantity_shipped and not (note or "").strip():
            raise BusinessRuleError(
                _("%(sku)s: %(counted)d received but %(shipped)d shipped; add a discrepancy note.")
                % {"sku": line.variant.sku, "counted": counted, "shipped": line.quantity_shipped},
                code="discrepancy_note_required",
                details={"sku": line.variant.sku},
            )
        line.quantity_received, line.discrepancy_note = counted, (note or "").strip()
        if counted == 0:
            continue
        if line.variant.product.tracks_lots:
            remaining = counted
            for travelled in sorted(line.lots.all(), key=lambda t: (t.lot.expiry_date, t.lot_id)):
                take = min(travelled.quantity, remaining)
                if take:
                    rows.append(
                        _stock_in(
                            line.variant,
                            transfer.destination,
                            take,
                            kind=MovementKind.TRANSFER_IN,
                            actor=actor,
                            ref=("transfer", transfer.pk),
                            lot=travelled.lot,
                        )
                    )
                remaining -= take
        else:
            rows.append(
                _stock_in(
                    line.variant,
                    transfer.destination,
                    counted,
                    kind=MovementKind.TRANSFER_IN,
                    actor=actor,
                    ref=("transfer", transfer.pk),
                    reason=line.discrepancy_note,
                )
            )
    StockMovement.objects.bulk_create(rows)
    TransferLine.objects.bulk_update(lines, ["quantity_received", "discrepancy_note"])
    transfer.status, transfer.received_by = Transfer.Status.RECEIVED, _stamp(actor)
    transfer.received_at = timezone.now()
    transfer.save(update_fields=["status", "received_by", "received_at"])
    # in the same transaction: e.g. a pickup order waiting for these goods becomes ready
    transfer_received.send(sender=Transfer, transfer=transfer, actor=actor)
    return transfer


@transaction.atomic
def transfer_cancel(*, transfer: Transfer, actor, reason: str = "", for_order: bool = False) -> Transfer:
    """Cancels a transfer that has not shipped yet (nothing has moved, so no stock changes). A transfer
    carrying a customer order's stock is cancelled only with its order (``for_order``), which releases
    what it held."""
    transfer = _transfer_for_update(transfer)
    if transfer.reservation_reference and not for_order:
        raise BusinessRuleError(
            _("This transfer brings goods a customer ordered: cancel the order instead."),
            code="customer_order_transfer",
        )
    if actor is not None:
        ensure_permission(actor, "inventory.change_transfer")
        if not is_hq(actor):
            ensure_store_allowed(
                actor, transfer.destination_id if transfer.kind == Transfer.Kind.REPLENISHMENT else transfer.origin_id
            )
    _require_status(transfer, Transfer.Status.REQUESTED, Transfer.Status.APPROVED)
    transfer.status, transfer.cancelled_by = Transfer.Status.CANCELLED, _stamp(actor)
    transfer.cancelled_at = timezone.now()
    if reason:
        transfer.note = f"{transfer.note} / {reason}".strip(" /")[:300]
    transfer.save(update_fields=["status", "cancelled_by", "cancelled_at", "note"])
    return transfer


REPLENISHMENT_LOCK = "omo-replenishment"  # advisory lock of replenishment_suggest
OPEN_TRANSFER_STATUSES = (Transfer.Status.REQUESTED, Transfer.Status.APPROVED, Transfer.Status.SHIPPED)


@transaction.atomic
def replenishment_suggest(*, stores: list[Location] | None = None) -> list[Transfer]:
    """For each store below its minimum on some SKU, one suggested transfer from its supplying warehouse
    filling up to the maximum, counting what is already on its way. SKUs already on an open transfer to
    the store are left alone, so running it again suggests nothing new. Stock held for reservations
    does not count as on the shelf."""
    advisory_xact_lock(REPLENISHMENT_LOCK)  # two runs at once (beat and a manual one) must not both suggest
    levels = (
        StockLevel.objects.filter(
            min_level__isnull=False,
            location__kind=Location.Kind.STORE,
            location__is_active=True,
            location__supplying_warehouse__isnull=False,
            min_level__gt=F("on_hand") - F("reserved"),
        )
        .select_related("location__supplying_warehouse", "variant")
        .order_by("location_id", "variant_id")
    )
    if stores is not None:
        levels = levels.filter(location__in=stores)
    open_lines = set(
        TransferLine.objects.filter(transfer__status__in=OPEN_TRANSFER_STATUSES).values_list(
            "transfer__destination_id", "variant_id"
        )
    )
    per_store: dict[int, list[tuple[Variant, int]]] = defaultdict(list)
    store_of: dict[int, Location] = {}
    for level in levels:
        if (level.location_id, level.variant_id) in open_lines:
            continue
        target = level.max_level if level.max_level is not None else level.min_level
        quantity = target - (level.on_hand - level.reserved)
        if quantity > 0:
            per_store[level.location_id].append((level.variant, quantity))
            store_of[level.location_id] = level.location
    return [
        transfer_request(
            origin=store_of[store_id].supplying_warehouse,
            destination=store_of[store_id],
            lines=lines,
            actor=None,
            kind=Transfer.Kind.SUGGESTED,
            note="min/max",
        )
        for store_id, lines in per_store.items()
    ]


# --- stock counts (盤點) and expiry -------------------------------------------------------------------


@transaction.atomic
def stock_count_start(
    *, location: Location, actor, variants: list[Variant] | None = None, note: str = ""
) -> StockCount:
    """Opens a count with one line per SKU (per lot for perishables) holding the on hand of now."""
    if actor is not None:
        ensure_permission(actor, "inventory.add_stockcount")
        ensure_store_allowed(actor, location.pk)
    count = StockCount.objects.create(location=location, note=note, created_by=_stamp(actor))
    levels = StockLevel.objects.filter(location=location).select_related("variant__product")
    if variants is not None:
        levels = levels.filter(variant__in=variants)
    lines = []
    lot_stock = defaultdict(list)
    for stock in LotStock.objects.filter(location=location, on_hand__gt=0).select_related("lot"):
        lot_stock[stock.lot.variant_id].append(stock)
    seen = set()
    for level in levels.order_by("variant_id"):
        seen.add(level.variant_id)
        if level.variant.product.tracks_lots:
            lines += [
                StockCountLine(count=count, variant_id=level.variant_id, lot=s.lot, expected=s.on_hand)
                for s in lot_stock[level.variant_id]
            ]
        elif level.on_hand or variants is not None:
            lines.append(StockCountLine(count=count, variant_id=level.variant_id, expected=level.on_hand))
    for variant in variants or []:
        if variant.pk not in seen and not variant.product.tracks_lots:
            lines.append(StockCountLine(count=count, variant=variant, expected=0))
    StockCountLine.objects.bulk_create(lines)
    return count


@transaction.atomic
def stock_count_record(*, count: StockCount, actor, counted: dict[int, int]) -> StockCount:
    """Records counted quantities by line id."""
    count = StockCount.objects.select_for_update().get(pk=count.pk)
    if actor is not None:
        ensure_permission(actor, "inventory.change_stockcount")
        ensure_store_allowed(actor, count.location_id)
    if count.status != StockCount.Status.COUNTING:
        raise ConflictError(_("This count is closed."), code="count_closed")
    lines = {line.pk: line for line in count.lines.filter(pk__in=counted)}
    unknown = set(counted) - set(lines)
    if unknown:
        raise BusinessRuleError(
            _("These lines are not on the count."), code="unknown_line", details={"lines": sorted(unknown)}
        )
    for line_id, value in counted.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise BusinessRuleError(
                _("Counted quantities are whole numbers, zero or more."),
                code="invalid_quantity",
                details={"line": line_id},
            )
        lines[line_id].counted = value
    StockCountLine.objects.bulk_update(lines.values(), ["counted"])
    return count


@transaction.atomic
@_one_event_per_level
def stock_count_post(*, count: StockCount, actor) -> list[StockMovement]:
    """Posts every counted line's variance (counted - expected) as a count movement."""
    count = StockCount.objects.select_for_update(of=("self",)).select_related("location").get(pk=count.pk)
    if actor is not None:
        ensure_permission(actor, "inventory.post_stockcount")
        ensure_store_allowed(actor, count.location_id)
    if count.status != StockCount.Status.COUNTING:
        raise ConflictError(_("This count is closed."), code="count_closed")
    lines = list(count.lines.select_related("variant__product", "lot").order_by("variant_id", "lot_id"))
    uncounted = [line.variant.sku for line in lines if line.counted is None]
    if uncounted:
        raise BusinessRuleError(
            _("Some lines are not counted yet."), code="count_incomplete", details={"skus": uncounted}
        )
    rows = []
    for line in lines:
        variance = line.counted - line.expected
        if variance == 0:
            continue
        ref = ("stock_count", count.pk)
        if variance > 0:
            rows.append(
                _stock_in(
                    line.variant,
                    count.location,
                    variance,
                    kind=MovementKind.COUNT,
                    actor=actor,
                    ref=ref,
                    lot=line.lot,
                    reason=_("count variance"),
                )
            )
        elif line.lot is None:
            rows += _stock_out(
                line.variant,
                count.location,
                -variance,
                kind=MovementKind.COUNT,
                actor=actor,
                ref=ref,
                reason=_("count variance"),
            )
        else:
            rows.append(
                _lot_out(
                    line.variant,
                    count.location,
                    line.lot,
                    -variance,
                    kind=MovementKind.COUNT,
                    actor=actor,
                    ref=ref,
                    reason=_("count variance"),
                )
            )
    count.status, count.posted_by, count.posted_at = StockCount.Status.POSTED, _stamp(actor), timezone.now()
    count.save(update_fields=["status", "posted_by", "posted_at"])
    return StockMovement.objects.bulk_create(rows)


def _lot_out(
    variant: Variant, location: Location, lot: Lot, quantity: int, *, kind, actor, ref, reason=""
) -> StockMovement:
    """Takes ``quantity`` of one named lot (a count or a write-off, not first-to-expire). The stock level
    is locked first and the lot second, the order every stock path keeps."""
    result = _change_level(variant.pk, location.pk, on_hand=-quantity)
    if result is None:
        raise InsufficientStock([_shortage(variant, location, quantity, _atp_of(variant.pk, location.pk))])
    if not LotStock.objects.filter(lot=lot, location=location, on_hand__gte=quantity).update(
        on_hand=F("on_hand") - quantity
    ):
        raise InsufficientStock([_shortage(variant, location, quantity, 0)])
    return _movement(
        variant.pk, location.pk, kind, -quantity, result[0], actor=actor, ref=ref, reason=reason, lot_id=lot.pk
    )


def lots_write_off_expired(*, today: date | None = None) -> list[StockMovement]:
    """Takes every expired lot off hand (beat job, daily), one SKU and location per short transaction
    so a sale of that SKU waits for at most one of them. Where what is left no longer covers the
    reservations, the newest reservations are closed as ``short`` (their orders must be re-allocated)."""
    today = today or timezone.localdate()
    pairs = list(
        LotStock.objects.filter(on_hand__gt=0, lot__expiry_date__lt=today)
        .values_list("lot__variant_id", "location_id")
        .distinct()
        .order_by("lot__variant_id", "location_id")
    )
    rows = []
    for variant_id, location_id in pairs:
        rows += _write_off_expired_at(variant_id, location_id, today=today)
    return rows


@transaction.atomic
@_one_event_per_level
def _write_off_expired_at(variant_id: int, location_id: int, *, today: date) -> list[StockMovement]:
    level = StockLevel.objects.select_for_update().get(variant_id=variant_id, location_id=location_id)
    stocks = list(
        LotStock.objects.select_for_update(of=("self",))
        .select_related("lot__variant__product", "location")
        .filter(lot__variant_id=variant_id, location_id=location_id, on_hand__gt=0, lot__expiry_date__lt=today)
        .order_by("lot__expiry_date", "lot_id")
    )
    expired = sum(stock.on_hand for stock in stocks)
    if not expired:
        return []
    excess = level.reserved - (level.on_hand - expired)
    if excess > 0:
        _close_short(variant_id, location_id, excess)
    rows = [
        _lot_out(
            stock.lot.variant,
            stock.location,
            stock.lot,
            stock.on_hand,
            kind=MovementKind.EXPIRY_WRITE_OFF,
            actor=None,
            ref=("lot", stock.lot_id),
            reason=_("expired on %(date)s") % {"date": stock.lot.expiry_date},
        )
        for stock in stocks
    ]
    return StockMovement.objects.bulk_create(rows)


def _close_short(variant_id: int, location_id: int, quantity: int) -> None:
    """Closes the newest active reservations of one SKU and location holding at least ``quantity``."""
    holding, ids = 0, []
    for pk, held in (
        Reservation.objects.select_for_update()
        .filter(variant_id=variant_id, location_id=location_id, status=Reservation.Status.ACTIVE)
        .order_by("-created_at", "-pk")
        .values_list("pk", "quantity")
    ):
        if holding >= quantity:
            break
        ids.append(pk)
        holding += held
    Reservation.objects.filter(pk__in=ids).update(status=Reservation.Status.SHORT, closed_at=timezone.now())
    if _change_level(variant_id, location_id, reserved=-holding) is None:
        raise ConflictError("reserved stock out of step", code="ledger_mismatch")


def available_lines(lines: list[StockLine]) -> list[dict]:
    """Shortages of ``lines`` against current ATP, without reserving (for a quick check)."""
    shortages = []
    for (variant_id, location_id), (variant, location, quantity) in _merge(lines).items():
        atp = _atp_of(variant_id, location_id)
        if atp < quantity:
            shortages.append(_shortage(variant, location, quantity, atp))
    return shortages


__all__ = [name for name in dir() if not name.startswith("_") and name not in {"Q"}]
