"""Every write of the orders app: placing an order (one short transaction: the order, the coupon, the
points, then the stock reservations last), paying it in one or several tenders (the gateway called
outside any transaction), the status table, fulfilment (shipments, pickup batches, the transfer that
brings a pickup order's goods), cancellation and returns with their refunds.

Lock order: an order's row, then members' rows, then stock rows (always last, in pk order inside the
inventory services), so two services never wait on each other in opposite orders.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import Variant
from inventory import services as stock
from inventory.allocation import allocation_plan
from inventory.models import ChannelLocation, StockLevel, Transfer
from inventory.selectors import ATP
from inventory.services import StockLine
from members import coupons as coupon_services
from members import loyalty
from members import services as member_services
from members.models import Member
from omo.core.errors import ApplicationError, BusinessRuleError, ConflictError
from omo.core.money import money_round
from omo.events.services import event_emit, kick_after_commit, partition_sql
from omo.org.access import ensure_permission, ensure_store_allowed
from omo.org.models import Location, SalesChannel
from orders import pricing
from orders.einvoice import invoice_details
from orders.models import (
    Fulfilment,
    FulfilmentLine,
    LineDiscount,
    Order,
    OrderAllocation,
    OrderLine,
    OrderStatus,
    OrderStatusChange,
    Payment,
    Refund,
    Return,
    ReturnLine,
    StoreCreditAccount,
    StoreCreditEntry,
    Tender,
)
from orders.payments import payment_provider
from orders.signals import order_cancelled, order_paid, order_returned

S = OrderStatus
# The one table of allowed status changes; ``order_set_status`` refuses anything else.
TRANSITIONS: dict[str, set[str]] = {
    S.PENDING_PAYMENT: {S.PAID, S.CANCELLED},
    S.PAID: {S.FULFILLING, S.READY_FOR_PICKUP, S.COMPLETED, S.CANCELLED},
    S.FULFILLING: {S.READY_FOR_PICKUP, S.COMPLETED, S.CANCELLED},
    S.READY_FOR_PICKUP: {S.COMPLETED, S.CANCELLED},
    S.COMPLETED: {S.PARTIALLY_RETURNED, S.RETURNED},
    S.PARTIALLY_RETURNED: {S.PARTIALLY_RETURNED, S.RETURNED},
    S.CANCELLED: set(),
    S.RETURNED: set(),
}
EVENTS = {
    S.PAID: "order.paid",
    S.FULFILLING: "order.fulfilling",
    S.READY_FOR_PICKUP: "order.ready_for_pickup",
    S.COMPLETED: "order.completed",
    S.CANCELLED: "order.cancelled",
    S.PARTIALLY_RETURNED: "order.returned",
    S.RETURNED: "order.returned",
}
GATEWAY_TENDERS = {Tender.CARD, Tender.LINE_PAY, Tender.JKO_PAY}
# money a third party collected from the buyer (a marketplace): recorded with the order it came with
# (``order_record_collected``), never taken through ``order_pay``
COLLECTED_TENDERS = {Tender.MARKETPLACE}


def _who(actor):
    return actor if getattr(actor, "pk", None) else None


def _payload(order: Order, **extra) -> dict:
    return {
        "number": order.number,
        "channel": order.channel.code,
        "store": order.store.code if order.store_id else None,
        "member": order.member.member_no if order.member_id else None,
        "clerk": order.clerk_id,
        "status": order.status,
        "total": order.total,
        **extra,
    }


def order_set_status(order: Order, to: str, *, actor=None, channel=None, note: str = "", event: dict | None = None):
    """Moves ``order`` (locked by the caller) to ``to`` if the table allows it, records who and when,
    and writes the domain event to the outbox in the same transaction. Anything else is a 409
    ``illegal_transition``."""
    if to not in TRANSITIONS[order.status]:
        raise ConflictError(
            _("An order that is %(from)s cannot become %(to)s.")
            % {"from": OrderStatus(order.status).label, "to": OrderStatus(to).label},
            code="illegal_transition",
            details={"from": order.status, "to": to},
        )
    OrderStatusChange.objects.create(
        order=order, from_status=order.status, to_status=to, by=_who(actor), by_channel=channel, note=note[:200]
    )
    order.status = to
    now = timezone.now()
    stamps = {
        S.PAID: "paid_at",
        S.READY_FOR_PICKUP: "ready_at",
        S.COMPLETED: "completed_at",
        S.CANCELLED: "cancelled_at",
    }
    fields = ["status"]
    if to in stamps:
        setattr(order, stamps[to], now)
        fields.append(stamps[to])
    order.save(update_fields=fields)
    if to == S.CANCELLED and order.paid_at is not None:
        order_cancelled.send(sender=Order, order=order)
    if to in EVENTS:
        event_emit(
            event_type=EVENTS[to],
            aggregate_type="order",
            aggregate_id=order.number,
            payload=_payload(order, **(event or {})),
            channel=order.channel_id,
        )


# --- placing ----------------------------------------------------------------------------------------


def _next_number(channel: SalesChannel) -> str:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval('orders_order_number_seq')")
            (n,) = cursor.fetchone()
    else:  # SQLite runs one writer at a time
        n = 100001 + Order.objects.count()
        while Order.objects.filter(number=f"{channel.code}-{n}").exists():
            n += 1
    return f"{channel.code}-{n}"


def _pickup_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def _address(raw) -> dict:
    raw = raw or {}
    missing = [k for k in ("name", "phone", "address") if not str(raw.get(k, "")).strip()]
    if missing:
        raise ApplicationError(
            _("A delivery needs the recipient's name, phone and address."),
            code="address_required",
            details={"missing": missing},
        )
    return {k: str(raw.get(k, "")).strip()[:200] for k in ("name", "phone", "address", "postcode", "city")}


def _atp_at(location: Location, variants: list[Variant]) -> dict[int, int]:
    return dict(
        StockLevel.objects.filter(location=location, variant__in=variants)
        .annotate(atp=ATP)
        .values_list("variant_id", "atp")
    )


def _pickup_plan(channel, store, wanted: list[tuple[Variant, int]]):
    """Pickup lines: what the store holds is reserved there; what it lacks comes by a transfer from
    its supplying warehouse (or the channel's other locations by priority) and the order waits for it.
    Returns [(StockLine, from_location or None)]."""
    if not store.is_store:
        raise BusinessRuleError(_("Pickup is at a store."), code="not_a_store")
    if not ChannelLocation.objects.filter(channel=channel, location=store, offers_pickup=True).exists():
        raise BusinessRuleError(
            _("%(store)s does not offer pickup for %(channel)s.") % {"store": store.code, "channel": channel.code},
            code="pickup_not_offered",
        )
    here = _atp_at(store, [v for v, _q in wanted])
    plan, short = [], []
    for variant, quantity in wanted:
        take = max(0, min(quantity, here.get(variant.pk, 0)))
        if take:
            plan.append((StockLine(variant, store, take), None))
        if quantity - take:
            short.append((variant, quantity - take))
    if short:
        sources = []
        if store.supplying_warehouse_id:
            sources.append(store.supplying_warehouse)
        sources += [
            link.location
            for link in ChannelLocation.objects.filter(channel=channel, ships=True, location__is_active=True)
            .exclude(location=store)
            .select_related("location")
            .order_by("priority", "location__code")
            if link.location not in sources
        ]
        for variant, quantity in short:
            left = quantity
            for source in sources:
                atp = _atp_at(source, [variant]).get(variant.pk, 0)
                take = max(0, min(left, atp))
                if take:
                    plan.append((StockLine(variant, source, take), source))
                    left -= take
                if not left:
                    break
            if left:  # nothing anywhere: reserve at the store so the shortage is reported as usual
                plan.append((StockLine(variant, store, left), None))
    return plan


def order_place(
    *,
    channel: SalesChannel,
    lines: list[tuple[str, int]],
    fulfilment: str,
    member: Member | None = None,
    store: Location | None = None,
    clerk=None,
    shipping_address: dict | None = None,
    coupon_code: str = "",
    points: int = 0,
    referral_code: str = "",
    idempotency_key: str | None = None,
    actor=None,
    source: Location | None = None,
    invoice: dict | None = None,
    override_by=None,
    prices: pricing.SetPrices | None = None,
) -> Order:
    """Places an order: prices it (strict: the coupon must apply, the points must be held), plans where
    the goods come from, and writes it all in one short transaction. ``store`` is the POS store for a
    counter sale, the pickup store, or the store that sold an endless-aisle order; ``source`` forces
    the location the goods come from (a clerk ordering from the warehouse for a customer). A retried
    call with the same ``idempotency_key`` returns the first order. ``prices``: for trusted service
    callers only (a marketplace's order), the unit prices and shipping fee the buyer paid elsewhere,
    instead of this pricing (no promotion, coupon or points)."""
    try:
        return _order_place(
            channel=channel,
            lines=lines,
            fulfilment=fulfilment,
            member=member,
            store=store,
            clerk=clerk,
            shipping_address=shipping_address,
            coupon_code=coupon_code,
            points=points,
            referral_code=referral_code,
            idempotency_key=idempotency_key,
            actor=actor,
            source=source,
            invoice=invoice,
            override_by=override_by,
            prices=prices,
        )
    except (ApplicationError, IntegrityError):
        # a retry of an order placed before: its key is taken (the insert fails) or the stock it took is
        # gone (the plan fails). Looked up only then, so a new order pays nothing for it.
        if idempotency_key:
            existing = Order.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None:
                if existing.channel_id != channel.pk or existing.member_id != (member.pk if member else None):
                    raise BusinessRuleError(
                        _("This Idempotency-Key was used for a different request."), code="idempotency_key_reused"
                    ) from None
                return existing
        raise


def _order_place(
    *,
    channel,
    lines,
    fulfilment,
    member,
    store,
    clerk,
    shipping_address,
    coupon_code,
    points,
    referral_code,
    idempotency_key,
    actor,
    source,
    invoice,
    override_by=None,
    prices=None,
) -> Order:
    invoice = invoice_details(invoice)
    if fulfilment not in Order.Fulfilment.values:
        raise ApplicationError(_("Unknown fulfilment %(f)s.") % {"f": fulfilment}, code="invalid_fulfilment")
    if actor is not None:
        ensure_permission(actor, "orders.add_order")
        if store is not None:
            ensure_store_allowed(actor, store.pk)
    if member is not None and member.status != Member.Status.ACTIVE:
        raise BusinessRuleError(_("This member is no longer active."), code="member_inactive")
    address = {}
    if fulfilment == Order.Fulfilment.COUNTER:
        if store is None or not store.is_store or channel.kind != SalesChannel.Kind.POS:
            raise BusinessRuleError(_("A counter sale is made at a store on the POS."), code="counter_needs_store")
    elif fulfilment == Order.Fulfilment.PICKUP:
        if store is None:
            raise ApplicationError(_("Choose the store to pick up at."), code="pickup_store_required")
    else:
        address = _address(shipping_address)
    if prices is not None:
        if coupon_code or points:
            raise ApplicationError(
                _("An order at set prices takes no coupon or points."), code="set_prices_take_no_discounts"
            )
        quote = pricing.quote_at_prices(channel=channel, lines=lines, prices=prices, member=member, store=store)
    else:
        quote = pricing.quote(
            channel=channel,
            lines=lines,
            member=member,
            store=store,
            coupon_code=coupon_code,
            points=points,
            strict=True,
        )
    wanted = [(line.variant, line.quantity) for line in quote.lines]
    if fulfilment == Order.Fulfilment.COUNTER:
        plan = [(StockLine(v, store, q), None) for v, q in wanted]
        if override_by is not None:
            _override_shortage(store, wanted, manager=override_by, clerk=actor)
    elif fulfilment == Order.Fulfilment.PICKUP:
        if source is not None:  # endless aisle to this store: everything comes by transfer
            plan = [(StockLine(v, source, q), source) for v, q in wanted]
        else:
            plan = _pickup_plan(channel, store, wanted)
    elif source is not None:
        plan = [(StockLine(v, source, q), None) for v, q in wanted]
    else:
        plan = [(line, None) for line in allocation_plan(channel=channel, lines=wanted)]
    # on PostgreSQL the number is drawn inside the order's INSERT (one round trip less), except when
    # transfers must name it before the order is written
    in_statement = connection.vendor == "postgresql" and all(origin is None for _line, origin in plan)
    number = None if in_statement else _next_number(channel)
    now = timezone.now()
    order = Order(
        number=number,
        channel=channel,
        store=store,
        member=member,
        clerk=_who(clerk),
        referral_code=(referral_code or "").strip().upper()[:12],
        fulfilment=fulfilment,
        status=S.PENDING_PAYMENT,
        currency=quote.currency,
        subtotal=quote.subtotal,
        discount_total=quote.discount_total,
        total=quote.total,
        tax_total=quote.tax_total,
        tax_rate=quote.tax_rate,
        shipping_fee=quote.shipping_fee,
        points_redeemed=quote.points_redeemed,
        coupon_code=quote.coupon_code if quote.coupon and quote.coupon["applies"] else "",
        pickup_code=_pickup_code() if fulfilment == Order.Fulfilment.PICKUP else "",
        shipping_address=address,
        invoice=invoice,
        idempotency_key=idempotency_key,
        created_by=_who(actor),
        placed_at=now,
        pay_by=now + timedelta(minutes=settings.ORDER_PAYMENT_MINUTES),
    )
    rows = [
        OrderLine(
            order=order,
            variant=line.variant,
            sku=line.variant.sku,
            name=str(line.variant)[:200],
            quantity=line.quantity,
            list_price=line.list_price,
            unit_price=line.unit_price,
            discount=line.discount,
            net=line.net,
            tax=line.tax,
            points_redeemed=line.points,
        )
        for line in quote.lines
    ]
    discounts = [
        LineDiscount(line=row, source=d.source, promotion=d.promotion, label=d.label[:120], amount=d.amount)
        for row, line in zip(rows, quote.lines, strict=True)
        for d in line.discounts
    ]
    for row in rows:  # what was written, for an answer that needs no second read
        row.written_discounts = [d for d in discounts if d.line is row]
    order.written_lines = rows
    with transaction.atomic():
        transfers = _transfers_for(order, plan, actor)
        allocations = [
            (line.variant.pk, line.location.pk, line.quantity, transfers[origin.pk].pk if origin is not None else None)
            for line, origin in plan
        ]
        _write_order(order, rows, discounts, allocations, actor=actor, channel=channel)
        number = order.number
        if order.coupon_code:
            coupon_services.coupon_redeem_in_transaction(
                code=order.coupon_code,
                lines=quote.coupon_cart,
                reference=number,
                member=member,
                channel=channel,
                store=store,
            )
        if quote.points_redeemed:
            member_services.points_redeem(
                member=member, points=quote.points_redeemed, reference=number, actor=_who(actor)
            )
        # the stock rows last: each hot row is locked from its update to the commit, nothing more
        direct = [line for line, origin in plan if origin is None]
        if direct:  # a refusal raises out of this transaction, which rolls everything back
            stock.reservation_create_in_transaction(lines=direct, reference=number, ttl=None)
        for origin_id, transfer in transfers.items():
            stock.reservation_create_in_transaction(
                lines=[line for line, origin in plan if origin is not None and origin.pk == origin_id],
                reference=transfer.reservation_reference,
                ttl=None,
            )
        if order.total == 0:  # everything paid by points or discounts
            _after_paid(order, actor=actor, channel=channel)
    return order


_ORDER_COLUMNS = (
    "number", "channel_id", "store_id", "member_id", "clerk_id", "referral_code", "fulfilment", "status",
    "currency", "subtotal", "discount_total", "total", "tax_total", "tax_rate", "shipping_fee", "points_redeemed",
    "points_earned", "coupon_code", "paid_total", "refunded_total", "pickup_code", "shipping_address",
    "invoice", "idempotency_key", "created_by_id", "placed_at", "pay_by",
)  # fmt: skip
EVENT_KEY_SQL = "'order:' || o.number"  # the event's aggregate, for its partition
_LINE_COLUMNS = (
    "variant_id", "sku", "name", "quantity", "list_price", "unit_price", "discount", "net", "tax", "points_redeemed",
)  # fmt: skip


def _write_order(order: Order, rows: list[OrderLine], discounts: list[LineDiscount], allocations, *, actor, channel):
    """Writes the order, its lines, their discounts, the first status, the allocations and the
    ``order.created`` event. On PostgreSQL that is one statement (a chain of INSERTs joined by the
    variant, each line's variant being unique in an order): the flash-sale path; elsewhere the ORM."""
    event = {"event_type": "order.created", "aggregate_type": "order", "aggregate_id": order.number}
    if connection.vendor != "postgresql":
        if order.number is None:
            order.number = _next_number(order.channel)
        order.save(force_insert=True)
        OrderLine.objects.bulk_create(rows)
        for row in rows:
            row.order_id = order.pk
        if discounts:
            LineDiscount.objects.bulk_create(discounts)
        OrderStatusChange.objects.create(order=order, to_status=S.PENDING_PAYMENT, by=_who(actor), by_channel=channel)
        by_variant = {row.variant_id: row for row in rows}
        OrderAllocation.objects.bulk_create(
            [
                OrderAllocation(line=by_variant[v], location_id=loc, quantity=q, transfer_id=t)
                for v, loc, q, t in allocations
            ]
        )
        event_emit(payload=_payload(order), channel=order.channel_id, **event)
        return
    import json

    from django.core.serializers.json import DjangoJSONEncoder

    from omo.events.models import OutboxEvent

    values = [getattr(order, c) for c in _ORDER_COLUMNS]
    values[_ORDER_COLUMNS.index("shipping_address")] = json.dumps(order.shipping_address)
    values[_ORDER_COLUMNS.index("invoice")] = json.dumps(order.invoice)
    placeholders = ["%s"] * len(_ORDER_COLUMNS)
    if order.number is None:  # drawn here: CODE-<next of the sequence>
        placeholders[_ORDER_COLUMNS.index("number")] = "%s || '-' || nextval('orders_order_number_seq')"
        values[_ORDER_COLUMNS.index("number")] = order.channel.code
    params: list = list(values)
    line_rows = ", ".join(["(" + ", ".join(["%s"] * len(_LINE_COLUMNS)) + ")"] * len(rows))
    for row in rows:
        params += [getattr(row, c) for c in _LINE_COLUMNS]
    sql = [
        f"WITH o AS (INSERT INTO {Order._meta.db_table} ({', '.join(_ORDER_COLUMNS)}) "  # noqa: S608
        f"VALUES ({', '.join(placeholders)}) RETURNING id, number), "
        f"l AS (INSERT INTO {OrderLine._meta.db_table} (order_id, {', '.join(_LINE_COLUMNS)}, fulfilled_quantity, "
        "returned_quantity, refunded_amount) "
        "SELECT o.id, v.variant_id::bigint, v.sku, v.name, v.quantity::integer, v.list_price::numeric, "
        "v.unit_price::numeric, v.discount::numeric, v.net::numeric, v.tax::numeric, v.points::integer, 0, 0, 0 "
        f"FROM o, (VALUES {line_rows}) AS v({', '.join(_LINE_COLUMNS[:-1])}, points) RETURNING id, variant_id), "
        f"h AS (INSERT INTO {OrderStatusChange._meta.db_table} (order_id, from_status, to_status, by_id, "
        "by_channel_id, note, at) SELECT o.id, '', %s, %s, %s, '', %s FROM o), "
    ]
    params += [S.PENDING_PAYMENT, getattr(_who(actor), "pk", None), getattr(channel, "pk", None), order.placed_at]
    allocation_rows = ", ".join(["(%s, %s, %s, %s)"] * len(allocations))
    sql.append(
        f"a AS (INSERT INTO {OrderAllocation._meta.db_table} (line_id, location_id, quantity, fulfilled, "  # noqa: S608
        "transfer_id) "
        "SELECT l.id, v.location_id::bigint, v.quantity::integer, 0, v.transfer_id::bigint FROM l "
        f"JOIN (VALUES {allocation_rows}) AS v(variant_id, location_id, quantity, transfer_id) "
        "ON v.variant_id::bigint = l.variant_id), "
    )
    for allocation in allocations:
        params += list(allocation)
    if discounts:
        discount_rows = ", ".join(["(%s, %s, %s, %s, %s)"] * len(discounts))
        sql.append(
            f"d AS (INSERT INTO {LineDiscount._meta.db_table} (line_id, source, promotion_id, label, amount) "  # noqa: S608
            "SELECT l.id, v.source, v.promotion_id::bigint, v.label, v.amount::numeric FROM l "
            f"JOIN (VALUES {discount_rows}) AS v(variant_id, source, promotion_id, label, amount) "
            "ON v.variant_id::bigint = l.variant_id), "
        )
        for d in discounts:
            params += [d.line.variant_id, d.source, d.promotion_id, d.label, d.amount]
    sql.append(
        f"e AS (INSERT INTO {OutboxEvent._meta.db_table} (event_type, aggregate_type, aggregate_id, payload, "  # noqa: S608
        "created_at, attempts, last_error, channel_id, partition, next_attempt_at) "
        "SELECT %s, %s, o.number, jsonb_set(%s::jsonb, '{number}', to_jsonb(o.number)), %s, 0, '', %s, "
        f"{partition_sql(EVENT_KEY_SQL)}, %s FROM o RETURNING partition) "
        "SELECT (SELECT id FROM o), (SELECT number FROM o), l.id, l.variant_id, (SELECT partition FROM e) FROM l"
    )
    params += [
        event["event_type"],
        event["aggregate_type"],
        json.dumps(_payload(order), cls=DjangoJSONEncoder),
        order.placed_at,
        order.channel_id,
        order.placed_at,
    ]
    with connection.cursor() as cursor:
        cursor.execute("".join(sql), params)
        written = cursor.fetchall()
    order.pk, order.number = written[0][0], written[0][1]
    kick_after_commit(written[0][4])
    order._state.adding = False
    line_ids = {variant_id: line_id for _order_id, _number, line_id, variant_id, _partition in written}
    for row in rows:
        row.pk, row.order_id = line_ids[row.variant_id], order.pk
        row._state.adding = False


def _override_shortage(store: Location, wanted, *, manager, clerk) -> None:
    """A counter sale of goods in hand that the store's stock record says are not there: with a store
    manager's override the record is corrected first, each unit as a stock adjustment in the manager's
    name with the reason, and an outbox event says who allowed it for which clerk."""
    ensure_permission(manager, "inventory.add_stockmovement")
    ensure_store_allowed(manager, store.pk)
    available = _atp_at(store, [v for v, _q in wanted])
    short = [(v, q - max(available.get(v.pk, 0), 0)) for v, q in wanted if q > available.get(v.pk, 0)]
    if not short:
        return
    reason = _("goods in hand at the counter; override by %(manager)s for %(clerk)s") % {
        "manager": manager.username,
        "clerk": getattr(clerk, "username", "-"),
    }
    with transaction.atomic():
        for variant, quantity in short:
            stock.stock_adjust(variant=variant, location=store, quantity=quantity, reason=reason[:200], actor=manager)
        event_emit(
            event_type="stock.override",
            aggregate_type="location",
            aggregate_id=store.code,
            payload={
                "manager": manager.username,
                "clerk": getattr(clerk, "username", None),
                "lines": [{"sku": v.sku, "quantity": q} for v, q in short],
            },
        )


def _transfers_for(order: Order, plan, actor) -> dict[int, Transfer]:
    """One approved customer-order transfer per source location, carrying its reservation."""
    by_origin: dict[int, list] = defaultdict(list)
    origins = {}
    for line, origin in plan:
        if origin is not None:
            by_origin[origin.pk].append((line.variant, line.quantity))
            origins[origin.pk] = origin
    transfers = {}
    for origin_id, lines in by_origin.items():
        transfers[origin_id] = stock.transfer_request(
            origin=origins[origin_id],
            destination=order.store,
            lines=lines,
            actor=None,
            kind=Transfer.Kind.CUSTOMER_ORDER,
            note=_("For order %(number)s") % {"number": order.number},
            reservation_reference=f"{order.number}:T{origin_id}",
            approved=True,
        )
    return transfers


# --- paying -----------------------------------------------------------------------------------------


def _store_credit_move(member: Member, amount: Decimal, *, reference: str, actor=None) -> StoreCreditEntry:
    account, _created = StoreCreditAccount.objects.get_or_create(member=member)
    account = StoreCreditAccount.objects.select_for_update().get(pk=account.pk)
    if account.balance + amount < 0:
        raise ConflictError(
            _("Store credit holds %(balance)s, not %(amount)s.") % {"balance": account.balance, "amount": -amount},
            code="insufficient_store_credit",
            details={"balance": str(account.balance)},
        )
    account.balance += amount
    account.save(update_fields=["balance"])
    return StoreCreditEntry.objects.create(
        account=account, amount=amount, balance_after=account.balance, reference=reference, by=_who(actor)
    )


def order_pay(
    *,
    order: Order,
    tenders: list[dict],
    actor=None,
    channel=None,
    idempotency_key: str | None = None,
) -> Order:
    """Pays the order in one or several tenders (``[{"tender": "card", "amount": "990", "token": "..."}]``,
    the amount defaulting to what is due). Cash and store credit are taken at once; gateway tenders are
    charged outside any transaction, then recorded. Fully paid, the order moves on (paid, then handed
    over at the counter, ready for pickup, or waiting for a transfer) and earns points. A declined
    tender is recorded and answered with a 402 ``payment_declined``; what was paid stays paid."""
    return order_pay_taking(
        order=order, tenders=tenders, actor=actor, channel=channel, idempotency_key=idempotency_key
    )[0]


def order_pay_taking(
    *,
    order: Order,
    tenders: list[dict],
    actor=None,
    channel=None,
    idempotency_key: str | None = None,
) -> tuple[Order, list[Payment]]:
    """``order_pay``, also returning the payments this call captured (none for a retry that finds the
    first call's payments), for callers that record where the money went (the POS shift)."""
    if idempotency_key and Payment.objects.filter(order=order, idempotency_key=f"{idempotency_key}:0").exists():
        return Order.objects.get(pk=order.pk), []
    if actor is not None:
        ensure_permission(actor, "orders.add_payment")
    if not tenders:
        raise ApplicationError(_("Give at least one tender."), code="no_tenders")
    with transaction.atomic():
        order = _locked_order(order.pk)
        _ensure_payable(order)
        # what is taken or being taken counts, not the paid total: a charge approved by the gateway a
        # moment ago is captured before the order's paid total catches up
        due = order.total - _taken_or_pending(order)
        payments, now = [], timezone.now()
        for i, item in enumerate(tenders):
            tender = item.get("tender")
            if tender not in Tender.values or tender in COLLECTED_TENDERS:
                raise ApplicationError(_("Unknown tender %(t)s.") % {"t": tender}, code="invalid_tender")
            amount = item.get("amount")
            amount = due if amount in (None, "") else _money(amount)
            if amount <= 0 or amount > due:
                raise BusinessRuleError(
                    _("Pay between 1 and the %(due)s due.") % {"due": due},
                    code="invalid_amount",
                    details={"due": str(due)},
                )
            due -= amount
            if tender == Tender.STORE_CREDIT:
                if order.member_id is None:
                    raise BusinessRuleError(_("Store credit needs a member."), code="member_required")
                _store_credit_move(order.member, -amount, reference=order.number, actor=actor)
            at_once = tender not in GATEWAY_TENDERS  # cash and store credit are taken here and now
            payment = Payment(
                order=order,
                tender=tender,
                amount=amount,
                status=Payment.Status.CAPTURED if at_once else Payment.Status.PENDING,
                captured_at=now if at_once else None,
                created_by=_who(actor),
                idempotency_key=f"{idempotency_key}:{i}" if idempotency_key else None,
            )
            payments.append((payment, item.get("token", "")))
        Payment.objects.bulk_create([payment for payment, _token in payments])  # one insert, pks set
    captured_now = [payment for payment, _token in payments if payment.status == Payment.Status.CAPTURED]
    declined = []
    provider = payment_provider()
    for payment, token in payments:
        if payment.tender not in GATEWAY_TENDERS:
            continue
        try:
            result = provider.charge(
                tender=payment.tender, amount=payment.amount, order_number=order.number, token=token
            )
        except Exception as error:
            result = None
            failure = f"gateway error: {type(error).__name__}"
        if result is not None and result.ok:
            payment.status, payment.captured_at = Payment.Status.CAPTURED, timezone.now()
            Payment.objects.filter(pk=payment.pk).update(
                status=payment.status, provider_reference=result.reference, captured_at=payment.captured_at
            )
            captured_now.append(payment)
        else:
            failure = failure if result is None else result.error
            Payment.objects.filter(pk=payment.pk).update(status=Payment.Status.FAILED, failure=failure[:200])
            declined.append({"tender": payment.tender, "amount": str(payment.amount), "error": failure})
    with transaction.atomic():
        order = _locked_order(order.pk)
        order.paid_total = _paid_total_refresh(order)
        captured = order.paid_total
        if order.status == S.PENDING_PAYMENT and captured >= order.total:
            _after_paid(order, actor=actor, channel=channel)
        elif order.status == S.CANCELLED and captured > order.refunded_total:
            _refund_all_captured(order, actor=actor)  # paid while being cancelled: give it back
    if order.status == S.CANCELLED:
        _send_refunds(order)
    if declined:
        raise PaymentDeclined(declined)
    return order, captured_now


def order_record_collected(
    *, order: Order, tender: str, amount: Decimal, reference: str = "", channel: SalesChannel | None = None
) -> Order:
    """Records money a third party already collected from the buyer (a marketplace), captured at once:
    exactly what is due, nothing more or less (422 ``invalid_amount``). Then the order moves on as any
    paid order does (points, the purchase record, ``order.paid``). For the service that receives the
    third party's order, in its transaction; never for a frontend."""
    if tender not in COLLECTED_TENDERS:
        raise ApplicationError(_("Unknown tender %(t)s.") % {"t": tender}, code="invalid_tender")
    with transaction.atomic():
        order = _locked_order(order.pk)
        _ensure_payable(order)
        due = order.total - _taken_or_pending(order)
        if amount <= 0 or amount != due:
            raise BusinessRuleError(
                _("Pay exactly the %(due)s due.") % {"due": due}, code="invalid_amount", details={"due": str(due)}
            )
        Payment.objects.create(
            order=order,
            tender=tender,
            amount=amount,
            status=Payment.Status.CAPTURED,
            captured_at=timezone.now(),
            provider_reference=(reference or "")[:100],
        )
        order.paid_total = _paid_total_refresh(order)
        _after_paid(order, channel=channel)
    return order


def _ensure_payable(order: Order) -> None:
    """409 ``order_not_payable`` unless the (locked) order waits for its payment."""
    if order.status != S.PENDING_PAYMENT:
        raise ConflictError(
            _("Order %(number)s is %(status)s and cannot be paid.")
            % {"number": order.number, "status": OrderStatus(order.status).label},
            code="order_not_payable",
            details={"status": order.status},
        )


def _paid_total_refresh(order: Order) -> Decimal:
    """Sets the order's paid total to what its captured payments add up to, in one statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Order._meta.db_table} SET paid_total = COALESCE((SELECT SUM(amount) "  # noqa: S608
            f"FROM {Payment._meta.db_table} WHERE order_id = %s AND status = %s), 0) "
            "WHERE id = %s RETURNING paid_total",
            [order.pk, Payment.Status.CAPTURED, order.pk],
        )
        return money_round(Decimal(str(cursor.fetchone()[0])))


def _locked_order(pk: int) -> Order:
    """The order, locked, with what its events name (channel, store, member) read in the same query."""
    return Order.objects.select_for_update(of=("self",)).select_related("channel", "store", "member").get(pk=pk)


class PaymentDeclined(ApplicationError):
    status_code = 402
    default_code = "payment_declined"

    def __init__(self, declined: list[dict]):
        super().__init__(_("The payment was declined."), details={"declined": declined})


def _fail_stale_payments(order: Order, *, now=None) -> int:
    """Gateway payments still pending after ``ORDER_GATEWAY_TIMEOUT_MINUTES`` (the process died during
    the call) are marked failed, so they no longer block the order."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.ORDER_GATEWAY_TIMEOUT_MINUTES)
    return Payment.objects.filter(order=order, status=Payment.Status.PENDING, created_at__lt=cutoff).update(
        status=Payment.Status.FAILED, failure="no answer from the gateway"
    )


def _taken_or_pending(order: Order) -> Decimal:
    """What the order's payments have taken or are taking, after failing the stale pending ones (read
    in one query; the update runs only when something is pending)."""
    rows = list(
        order.payments.filter(status__in=[Payment.Status.PENDING, Payment.Status.CAPTURED]).values_list(
            "status", "amount"
        )
    )
    if any(status == Payment.Status.PENDING for status, _amount in rows) and _fail_stale_payments(order):
        return _taken_or_pending(order)
    return sum((amount for _status, amount in rows), Decimal(0))


def _money(value) -> Decimal:
    try:
        amount = Decimal(str(value))
    except Exception:
        raise ApplicationError(_("Amounts are numbers."), code="invalid_amount") from None
    if not amount.is_finite():
        raise ApplicationError(_("Amounts are numbers."), code="invalid_amount")
    return money_round(amount)


def _after_paid(order: Order, *, actor=None, channel=None) -> None:
    """The order is paid (inside the caller's transaction, order locked): points, the purchase record,
    then the next status by fulfilment."""
    order_set_status(order, S.PAID, actor=actor, channel=channel)
    # locked as the hand-over would lock them (the order is locked already: no one else waits here)
    lines = list(order.lines.select_for_update(of=("self",)).select_related("variant__product__category"))
    if order.member_id:
        try:  # at the tier the member had before this purchase
            earned = loyalty.points_for_purchase(
                member=order.member,
                channel=order.channel,
                lines=[loyalty.PurchaseLine(line.variant, line.net) for line in lines],
            )
        except BusinessRuleError:
            earned = 0  # the brand has no earn rule
        # the member (and a referrer) locked once, for the points, the purchase record and the tier
        member = loyalty.lock_for_purchase(order.member_id)
        if earned:
            member_services.points_earn(
                member=member, points=earned, reference=order.number, actor=_who(actor), locked=True
            )
            Order.objects.filter(pk=order.pk).update(points_earned=earned)
            order.points_earned = earned
        loyalty.purchase_record(
            member=member,
            reference=order.number,
            channel=order.channel,
            store=order.store,
            amount=order.total,
            paid_at=order.paid_at,
            locked=True,
        )
    order_paid.send(sender=Order, order=order)
    if order.fulfilment == Order.Fulfilment.COUNTER:
        _fulfil(
            order,
            Fulfilment.Kind.COUNTER,
            order.store,
            {line.pk: line.quantity for line in lines},
            actor=actor,
            locked_lines=lines,
        )
        order_set_status(order, S.COMPLETED, actor=actor, channel=channel)
    elif order.fulfilment == Order.Fulfilment.PICKUP:
        waiting = OrderAllocation.objects.filter(line__order=order, transfer__isnull=False).exists()
        order_set_status(
            order,
            S.FULFILLING if waiting else S.READY_FOR_PICKUP,
            actor=actor,
            channel=channel,
            event={"pickup_code": order.pickup_code} if not waiting else None,
        )


# --- fulfilment -------------------------------------------------------------------------------------


def _fulfil(
    order: Order,
    kind: str,
    location: Location,
    quantities: dict[int, int],
    *,
    actor=None,
    tracking="",
    key=None,
    locked_lines: list[OrderLine] | None = None,
):
    """Consumes the order's reservation at ``location`` for ``quantities`` ({line id: n}) and records
    the fulfilment with the lots that left. ``locked_lines``: the order's lines, already read FOR UPDATE
    with their variants and products in this transaction."""
    if locked_lines is None:
        locked_lines = order.lines.select_for_update(of=("self",)).select_related("variant__product")
    lines = {line.pk: line for line in locked_lines}
    unknown = set(quantities) - set(lines)
    if unknown:
        raise BusinessRuleError(
            _("These lines are not on the order."), code="unknown_line", details={"lines": sorted(unknown)}
        )
    allocations = list(
        OrderAllocation.objects.select_for_update().filter(line__order=order, location=location).order_by("pk")
    )
    stock_lines, takes = [], []
    for line_id, quantity in sorted(quantities.items()):
        line = lines[line_id]
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise ApplicationError(_("Quantities are whole numbers of 1 or more."), code="invalid_quantity")
        open_here = sum(a.quantity - a.fulfilled for a in allocations if a.line_id == line_id)
        if quantity > open_here:
            raise ConflictError(
                _("%(sku)s: %(n)d can be handed over from %(loc)s, not %(asked)d.")
                % {"sku": line.sku, "n": open_here, "loc": location.code, "asked": quantity},
                code="nothing_to_fulfil",
                details={"sku": line.sku, "open": open_here},
            )
        stock_lines.append(StockLine(line.variant, location, quantity))
        left = quantity
        for allocation in allocations:
            if allocation.line_id != line_id or left == 0:
                continue
            take = min(allocation.quantity - allocation.fulfilled, left)
            if take:
                takes.append((allocation.pk, take))
                left -= take
        line.fulfilled_quantity += quantity
    movements = stock.reservation_consume_in_transaction(reference=order.number, actor=_who(actor), only=stock_lines)
    taken = set(takes)
    whole = [a.pk for a in allocations if (a.pk, a.quantity - a.fulfilled) in taken]
    if whole:  # allocations handed over in full: one update
        OrderAllocation.objects.filter(pk__in=whole).update(fulfilled=F("quantity"))
    for allocation_id, take in takes:
        if allocation_id not in whole:
            OrderAllocation.objects.filter(pk=allocation_id).update(fulfilled=F("fulfilled") + take)
    OrderLine.objects.bulk_update([lines[i] for i in quantities], ["fulfilled_quantity"])
    fulfilment = Fulfilment.objects.create(
        order=order,
        kind=kind,
        location=location,
        tracking=tracking[:60],
        by=_who(actor),
        idempotency_key=key,
        units=sum(quantities.values()),
    )
    lots: dict[int, list] = defaultdict(list)
    for movement in movements:
        if movement.lot_id:
            lots[movement.variant_id].append([movement.lot.code, -movement.quantity])
    FulfilmentLine.objects.bulk_create(
        [
            FulfilmentLine(
                fulfilment=fulfilment, line=lines[line_id], quantity=q, lots=lots.get(lines[line_id].variant_id, [])
            )
            for line_id, q in quantities.items()
        ]
    )
    return fulfilment


def _all_fulfilled(order: Order) -> bool:
    return not order.lines.filter(fulfilled_quantity__lt=F("quantity")).exists()


@transaction.atomic
def order_ship(
    *,
    order: Order,
    location: Location,
    quantities: dict[int, int] | None = None,
    tracking: str = "",
    actor=None,
    idempotency_key: str | None = None,
) -> Fulfilment:
    """A shipment leaves ``location`` (a warehouse, or a store shipping for the web: 門市出貨) with
    ``quantities`` ({line id: n}; by default all the order holds there)."""
    if actor is not None:
        ensure_permission(actor, "orders.add_fulfilment")
        ensure_store_allowed(actor, location.pk)
    order = Order.objects.select_for_update().get(pk=order.pk)
    if idempotency_key:  # a retry after a crash between the commit and the answer
        done = Fulfilment.objects.filter(order=order, idempotency_key=idempotency_key).first()
        if done is not None:
            return done
    if order.fulfilment != Order.Fulfilment.SHIP or order.status not in (S.PAID, S.FULFILLING):
        raise ConflictError(
            _("This order is not waiting to be shipped."), code="not_shippable", details={"status": order.status}
        )
    quantities = quantities or _open_at(order, location)
    if not quantities:
        raise ConflictError(
            _("Nothing of this order is held at %(loc)s.") % {"loc": location.code}, code="nothing_to_fulfil"
        )
    fulfilment = _fulfil(
        order, Fulfilment.Kind.SHIPMENT, location, quantities, actor=actor, tracking=tracking, key=idempotency_key
    )
    if _all_fulfilled(order):
        if order.status == S.PAID:
            order_set_status(order, S.FULFILLING, actor=actor)
        order_set_status(order, S.COMPLETED, actor=actor, event={"shipment": fulfilment.pk})
    elif order.status == S.PAID:
        order_set_status(order, S.FULFILLING, actor=actor, event={"shipment": fulfilment.pk})
    return fulfilment


def _open_at(order: Order, location: Location) -> dict[int, int]:
    out: dict[int, int] = defaultdict(int)
    for line_id, quantity, fulfilled in OrderAllocation.objects.filter(
        line__order=order, location=location, transfer__isnull=True
    ).values_list("line_id", "quantity", "fulfilled"):
        if quantity > fulfilled:
            out[line_id] += quantity - fulfilled
    return dict(out)


@transaction.atomic
def order_pickup(
    *,
    order: Order,
    actor,
    quantities: dict[int, int] | None = None,
    pickup_code: str | None = None,
    idempotency_key: str | None = None,
) -> Fulfilment:
    """A pickup batch handed over at the order's store (all that is left, or ``quantities``: several
    batches are fine, 分批取貨). With ``pickup_code`` given it must match."""
    ensure_permission(actor, "orders.add_fulfilment")
    order = Order.objects.select_for_update().get(pk=order.pk)
    ensure_store_allowed(actor, order.store_id)
    if idempotency_key:  # a retry after a crash between the commit and the answer
        done = Fulfilment.objects.filter(order=order, idempotency_key=idempotency_key).first()
        if done is not None:
            return done
    if order.fulfilment != Order.Fulfilment.PICKUP or order.status != S.READY_FOR_PICKUP:
        raise ConflictError(
            _("Order %(number)s is not ready for pickup.") % {"number": order.number},
            code="not_ready_for_pickup",
            details={"status": order.status},
        )
    if pickup_code is not None and not secrets.compare_digest(str(pickup_code), order.pickup_code):
        raise BusinessRuleError(_("The pickup code does not match."), code="wrong_pickup_code")
    store = Location.objects.get(pk=order.store_id)
    quantities = quantities or _open_at(order, store)
    fulfilment = _fulfil(order, Fulfilment.Kind.PICKUP, store, quantities, actor=actor, key=idempotency_key)
    if _all_fulfilled(order):
        order_set_status(order, S.COMPLETED, actor=actor, event={"pickup": fulfilment.pk})
    else:
        event_emit(
            event_type="order.picked_up_in_part",
            aggregate_type="order",
            aggregate_id=order.number,
            payload=_payload(order, pickup=fulfilment.pk),
            channel=order.channel_id,
        )
    return fulfilment


def on_transfer_received(sender, transfer: Transfer, actor=None, **kwargs) -> None:
    """A customer-order transfer arrived at the pickup store (inside the receipt's transaction): the
    units are held there for the order, and the order is ready for pickup once nothing else is on
    its way. Units that did not arrive stay waiting (the store manager sees them)."""
    if transfer.kind != Transfer.Kind.CUSTOMER_ORDER:
        return
    allocations = list(
        OrderAllocation.objects.select_for_update(of=("self",))
        .filter(transfer=transfer)
        .select_related("line__variant", "line__order")
        .order_by("pk")
    )
    if not allocations:
        return
    order = Order.objects.select_for_update().get(pk=allocations[0].line.order_id)
    received = dict(transfer.lines.values_list("variant_id", "quantity_received"))
    store = transfer.destination
    if order.status in (S.CANCELLED,):
        return  # the goods simply join the store's stock
    holding = []
    for allocation in allocations:
        arrived = min(allocation.quantity, received.get(allocation.line.variant_id, 0))
        received[allocation.line.variant_id] = received.get(allocation.line.variant_id, 0) - arrived
        if arrived:
            holding.append(StockLine(allocation.line.variant, store, arrived))
            if arrived == allocation.quantity:
                OrderAllocation.objects.filter(pk=allocation.pk).update(location=store, transfer=None)
            else:
                OrderAllocation.objects.filter(pk=allocation.pk).update(quantity=allocation.quantity - arrived)
                OrderAllocation.objects.create(line=allocation.line, location=store, quantity=arrived)
    if holding:
        stock.reservation_create(lines=holding, reference=order.number, ttl=None, promised=True)
    for allocation in OrderAllocation.objects.filter(line__order=order, transfer=transfer).select_related(
        "line__variant"
    ):
        _source_again(order, allocation, origin=transfer.origin)
    waiting = OrderAllocation.objects.filter(line__order=order, transfer__isnull=False).exists()
    if not waiting and order.status == S.FULFILLING:
        order_set_status(order, S.READY_FOR_PICKUP, actor=actor, event={"pickup_code": order.pickup_code})


def _source_again(order: Order, allocation: OrderAllocation, *, origin: Location) -> None:
    """Units a transfer did not bring: a new transfer from a location that holds them (reserved there),
    or, when none does, a back-order transfer from the first origin that the warehouse ships once the
    stock is in. The order keeps waiting on a transfer that can still come, never on a finished one."""
    variant, missing = allocation.line.variant, allocation.quantity
    sources = [origin] + [
        link.location
        for link in ChannelLocation.objects.filter(channel=order.channel, ships=True, location__is_active=True)
        .exclude(location_id__in=[order.store_id, origin.pk])
        .select_related("location")
        .order_by("priority", "location__code")
    ]
    source = next((loc for loc in sources if _atp_at(loc, [variant]).get(variant.pk, 0) >= missing), None)
    n = Transfer.objects.filter(reservation_reference__startswith=f"{order.number}:T").count() + 1
    reference = f"{order.number}:T{(source or origin).pk}-{n}" if source else ""
    transfer = stock.transfer_request(
        origin=source or origin,
        destination=order.store,
        lines=[(variant, missing)],
        actor=None,
        kind=Transfer.Kind.CUSTOMER_ORDER,
        note=(_("For order %(number)s") if source else _("Back-order for order %(number)s")) % {"number": order.number},
        reservation_reference=reference,
        approved=True,
    )
    if source:
        stock.reservation_create(lines=[StockLine(variant, source, missing)], reference=reference, ttl=None)
    OrderAllocation.objects.filter(pk=allocation.pk).update(location=source or origin, transfer=transfer)


# --- cancelling -------------------------------------------------------------------------------------


def order_cancel(*, order: Order, actor=None, channel=None, reason: str = "") -> Order:
    """Cancels an order nothing of which has left yet: the stock held (and transfers not yet shipped)
    is released, the coupon given back per its campaign, redeemed points given back and earned points
    taken back, and what was paid refunded to the tenders it came from."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if actor is not None:
            ensure_permission(actor, "orders.change_order")
            if order.store_id:
                ensure_store_allowed(actor, order.store_id)
        if order.lines.filter(fulfilled_quantity__gt=0).exists():
            raise ConflictError(
                _("Part of order %(number)s was handed over already: return it instead.") % {"number": order.number},
                code="already_fulfilled",
            )
        order_set_status(order, S.CANCELLED, actor=actor, channel=channel, note=reason)
        _release_everything(order, actor=actor)
        _refund_all_captured(order, actor=actor)
    _send_refunds(order)
    order.refresh_from_db()
    return order


def _release_everything(order: Order, *, actor=None) -> None:
    # order, then transfer, then stock rows: the lock order of shipping and receiving a transfer too
    for transfer in Transfer.objects.filter(reservation_reference__startswith=f"{order.number}:T").order_by("pk"):
        transfer = Transfer.objects.select_for_update().get(pk=transfer.pk)
        if transfer.status in (Transfer.Status.REQUESTED, Transfer.Status.APPROVED):
            stock.transfer_cancel(transfer=transfer, actor=None, reason=_("order cancelled"), for_order=True)
        stock.reservation_release(reference=transfer.reservation_reference)
    stock.reservation_release(reference=order.number)
    coupon_services.coupon_reinstate(reference=order.number)
    if order.member_id:
        member = Member.objects.get(pk=order.member_id)
        member = Member.objects.get(pk=member.merged_into_id or member.pk)
        if member.status == Member.Status.ACTIVE:
            member_services.points_reverse(member=member, reference=order.number, actor=_who(actor))
        if order.paid_at and order.total > 0:
            from members.models import Purchase

            purchase = Purchase.objects.filter(reference=order.number).first()
            if purchase and purchase.net > 0:
                loyalty.purchase_refund(reference=order.number, amount=purchase.net)


def _refund_all_captured(order: Order, *, actor=None, ret: Return | None = None) -> None:
    payments = list(order.payments.select_for_update().filter(status=Payment.Status.CAPTURED).order_by("pk"))
    total = Decimal(0)
    for payment in payments:
        left = payment.amount - payment.refunded_amount
        if left > 0:
            _refund_payment(order, payment, left, actor=actor, ret=ret)
            total += left
    if total:
        Order.objects.filter(pk=order.pk).update(refunded_total=F("refunded_total") + total)


def _refund_payment(order: Order, payment: Payment, amount: Decimal, *, actor=None, ret=None) -> Refund:
    Payment.objects.filter(pk=payment.pk).update(refunded_amount=F("refunded_amount") + amount)
    if payment.tender == Tender.EXCHANGE:  # the credit came from the exchanged order: back to its tenders
        original = Order.objects.select_for_update().get(pk=order.exchange_of_id)
        _refund_spread(original, amount, actor=actor, ret=ret)
        return Refund.objects.create(
            order=order,
            ret=ret,
            payment=payment,
            tender=payment.tender,
            amount=amount,
            status=Refund.Status.DONE,
            created_by=_who(actor),
        )
    done = payment.tender not in GATEWAY_TENDERS
    if payment.tender == Tender.STORE_CREDIT:
        _store_credit_move(order.member, amount, reference=ret.number if ret else order.number, actor=actor)
    return Refund.objects.create(
        order=order,
        ret=ret,
        payment=payment,
        tender=payment.tender,
        amount=amount,
        status=Refund.Status.DONE if done else Refund.Status.PENDING,
        created_by=_who(actor),
    )


def _send_refunds(order: Order) -> None:
    """Sends the order's pending gateway refunds (after the commit); a failure stays pending for the
    retry job."""
    provider = payment_provider()
    for refund in Refund.objects.filter(
        order=order, status__in=[Refund.Status.PENDING, Refund.Status.FAILED]
    ).select_related("payment"):
        try:
            result = provider.refund(
                tender=refund.tender, amount=refund.amount, charge_reference=refund.payment.provider_reference
            )
        except Exception:
            result = None
        if result is not None and result.ok:
            Refund.objects.filter(pk=refund.pk).update(
                status=Refund.Status.DONE, provider_reference=result.reference, attempts=F("attempts") + 1
            )
        else:
            Refund.objects.filter(pk=refund.pk).update(status=Refund.Status.FAILED, attempts=F("attempts") + 1)


def refunds_retry() -> int:
    """Beat job: sends refunds the gateway failed earlier."""
    orders = Order.objects.filter(refunds__status__in=[Refund.Status.PENDING, Refund.Status.FAILED]).distinct()
    count = 0
    for order in orders:
        _send_refunds(order)
        count += 1
    return count


def orders_cancel_unpaid(*, now=None) -> int:
    """Beat job: cancels orders still unpaid after ``ORDER_PAYMENT_MINUTES``, giving back stock,
    coupon and points. One order per transaction, skipping orders being paid right now."""
    now = now or timezone.now()
    cancelled = 0
    for pk in list(Order.objects.filter(status=S.PENDING_PAYMENT, pay_by__lt=now).values_list("pk", flat=True)[:1000]):
        with transaction.atomic():
            order = Order.objects.select_for_update(skip_locked=True).filter(pk=pk, status=S.PENDING_PAYMENT).first()
            if order is not None:
                _fail_stale_payments(order, now=now)
            if order is None or order.payments.filter(status=Payment.Status.PENDING).exists():
                continue  # being paid now: the payment decides
            order_set_status(order, S.CANCELLED, note=_("not paid in time"))
            _release_everything(order)
            _refund_all_captured(order)
        _send_refunds(order)
        cancelled += 1
    return cancelled


def pickups_expire(*, now=None) -> int:
    """Beat job: orders ready for pickup longer than ``ORDER_PICKUP_DAYS`` and not collected at all
    are cancelled (the stock goes back on the store's shelf, the money back to the customer)."""
    now = now or timezone.now()
    due = now - timedelta(days=settings.ORDER_PICKUP_DAYS)
    count = 0
    for pk in list(
        Order.objects.filter(status=S.READY_FOR_PICKUP, ready_at__lt=due).values_list("pk", flat=True)[:1000]
    ):
        order = Order.objects.get(pk=pk)
        if order.lines.filter(fulfilled_quantity__gt=0).exists():
            continue  # partly collected: the store manager settles the rest (return of the remainder)
        order_cancel(order=order, reason=_("not collected in time"))
        count += 1
    return count


# --- returns ----------------------------------------------------------------------------------------


def _share(total: int | Decimal, part: int, whole: int):
    """What ``part`` of ``whole`` units carry of ``total``: money rounded, points floored; all of it
    when ``part == whole``."""
    if part >= whole:
        return total
    if isinstance(total, int):
        return total * part // whole
    return money_round(total * part / whole)


def _earned_per_line(order: Order, lines: list[OrderLine]) -> dict[int, int]:
    nets = [line.net for line in lines]
    parts = pricing.allocate(Decimal(order.points_earned), nets) if order.points_earned else [Decimal(0)] * len(lines)
    return {line.pk: int(part) for line, part in zip(lines, parts, strict=True)}


def return_create(
    *,
    order: Order,
    lines: list[dict],
    channel: SalesChannel,
    store: Location | None = None,
    refund_to: str = Return.RefundTo.ORIGINAL,
    reason: str = "",
    actor=None,
    idempotency_key: str | None = None,
) -> Return:
    """Takes back ``lines`` ([{"line": id, "quantity": n, "disposition": "restock"|"damaged",
    "location": Location?}]) through any channel: an online order returned in a store is fine. Refunds
    exactly what those units cost after every discount (never more than paid for the line), to the
    original tenders or to store credit; restocks or writes off; gives back the points redeemed on them
    and takes back the points they earned; gives the coupon back when the whole order comes back.
    The order's lines are locked, so two returns of the same line cannot both take the last unit."""
    if idempotency_key:
        existing = Return.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    if actor is not None:
        ensure_permission(actor, "orders.add_return")
        if store is not None:
            ensure_store_allowed(actor, store.pk)
    if refund_to not in Return.RefundTo.values:
        raise ApplicationError(_("Refund to the original tenders or to store credit."), code="invalid_refund_to")
    if not lines:
        raise ApplicationError(_("Give at least one line to return."), code="no_lines")
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.status not in (S.COMPLETED, S.PARTIALLY_RETURNED):
            raise ConflictError(
                _("Order %(number)s cannot be returned while it is %(status)s.")
                % {"number": order.number, "status": OrderStatus(order.status).label},
                code="not_returnable",
                details={"status": order.status},
            )
        if refund_to == Return.RefundTo.STORE_CREDIT and order.member_id is None:
            raise BusinessRuleError(_("Store credit needs a member."), code="member_required")
        order_lines = {
            line.pk: line
            for line in order.lines.select_for_update(of=("self",)).select_related("variant__product").order_by("pk")
        }
        earned = _earned_per_line(order, list(order_lines.values()))
        number = f"{order.number}-R{order.returns.count() + 1}"
        ret = Return.objects.create(
            order=order,
            number=number,
            channel=channel,
            store=store,
            refund_to=refund_to,
            amount=0,
            reason=reason[:200],
            idempotency_key=idempotency_key,
            created_by=_who(actor),
        )
        amount, give_back, take_back = Decimal(0), 0, 0
        seen = set()
        rows = []
        for item in lines:
            line = order_lines.get(item.get("line"))
            quantity = item.get("quantity")
            if line is None or line.pk in seen:
                raise BusinessRuleError(
                    _("Each line of the order once."), code="unknown_line", details={"line": item.get("line")}
                )
            seen.add(line.pk)
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
                raise ApplicationError(_("Quantities are whole numbers of 1 or more."), code="invalid_quantity")
            returnable = line.fulfilled_quantity - line.returned_quantity
            if quantity > returnable:
                raise ConflictError(
                    _("%(sku)s: %(n)d can be returned, not %(asked)d.")
                    % {"sku": line.sku, "n": returnable, "asked": quantity},
                    code="return_exceeds_bought",
                    details={"sku": line.sku, "returnable": returnable},
                )
            disposition = item.get("disposition") or ReturnLine.Disposition.RESTOCK
            if disposition not in ReturnLine.Disposition.values:
                raise ApplicationError(_("Restock or damaged."), code="invalid_disposition")
            location = item.get("location") or store
            if location is None:
                raise ApplicationError(_("Say where the goods go back to."), code="location_required")
            after = line.returned_quantity + quantity
            money = _share(line.net, after, line.quantity) - line.refunded_amount
            money = max(Decimal(0), min(money, line.net - line.refunded_amount))
            give = _share(line.points_redeemed, after, line.quantity) - _share(
                line.points_redeemed, line.returned_quantity, line.quantity
            )
            take = _share(earned[line.pk], after, line.quantity) - _share(
                earned[line.pk], line.returned_quantity, line.quantity
            )
            amount += money
            give_back += give
            take_back += take
            line.returned_quantity = after
            line.refunded_amount += money
            rows.append(
                ReturnLine(
                    ret=ret, line=line, quantity=quantity, amount=money, disposition=disposition, location=location
                )
            )
            if disposition == ReturnLine.Disposition.RESTOCK:
                for lot, n in _lots_back(line, quantity):
                    stock.stock_return(
                        variant=line.variant,
                        location=location,
                        quantity=n,
                        actor=_who(actor),
                        reference=number,
                        lot=lot,
                    )
        ReturnLine.objects.bulk_create(rows)
        OrderLine.objects.bulk_update([order_lines[pk] for pk in seen], ["returned_quantity", "refunded_amount"])
        ret.amount, ret.points_given_back, ret.points_taken_back = amount, give_back, take_back
        ret.save(update_fields=["amount", "points_given_back", "points_taken_back"])
        everything_back = all(line.returned_quantity == line.quantity for line in order_lines.values())
        if order.member_id:
            member = Member.objects.get(pk=order.member_id)
            member = Member.objects.get(pk=member.merged_into_id or member.pk)
            member_services.points_return(
                member=member, reference=number, give_back=give_back, take_back=take_back, actor=_who(actor)
            )
            if amount > 0:
                loyalty.purchase_refund(reference=order.number, amount=amount)
        if everything_back:
            coupon_services.coupon_reinstate(reference=order.number)
        if amount > 0 and refund_to != Return.RefundTo.EXCHANGE:  # an exchange's credit pays the new sale
            if refund_to == Return.RefundTo.STORE_CREDIT:
                _store_credit_move(order.member, amount, reference=number, actor=actor)
                Refund.objects.create(
                    order=order,
                    ret=ret,
                    tender=Tender.STORE_CREDIT,
                    amount=amount,
                    status=Refund.Status.DONE,
                    created_by=_who(actor),
                )
            else:
                _refund_spread(order, amount, actor=actor, ret=ret)
            Order.objects.filter(pk=order.pk).update(refunded_total=F("refunded_total") + amount)
        elif amount > 0:
            Order.objects.filter(pk=order.pk).update(refunded_total=F("refunded_total") + amount)
        order_set_status(
            order,
            S.RETURNED if everything_back else S.PARTIALLY_RETURNED,
            actor=actor,
            channel=channel,
            event={
                "return": number,
                "refunded": amount,
                "lines": [{"sku": r.line.sku, "quantity": r.quantity, "amount": r.amount} for r in rows],
            },
        )
        order_returned.send(sender=Return, ret=ret)
    _send_refunds(order)
    return ret


def _lots_back(line: OrderLine, quantity: int) -> list[tuple[object, int]]:
    """The lots units of ``line`` go back into: for a SKU kept by lot, the lots they left from (as the
    fulfilments recorded them, last out first back); otherwise no lot."""
    if not line.variant.product.tracks_lots:
        return [(None, quantity)]
    from inventory.models import Lot

    out: list[list] = []
    for lots in FulfilmentLine.objects.filter(line=line).order_by("-pk").values_list("lots", flat=True):
        out += [list(pair) for pair in reversed(lots)]
    already = line.returned_quantity - quantity  # units of this line returned before this return
    back, left = [], quantity
    for code, n in out:
        skip = min(already, n)
        already, n = already - skip, n - skip
        take = min(n, left)
        if take:
            back.append((Lot.objects.get(variant=line.variant, code=code), take))
            left -= take
        if not left:
            break
    if left:
        raise BusinessRuleError(
            _("%(sku)s is kept by lot and these units have no recorded lot.") % {"sku": line.sku}, code="lot_required"
        )
    return back


def _refund_spread(order: Order, amount: Decimal, *, actor=None, ret=None) -> None:
    """Gives ``amount`` back over the captured payments, the last taken first (store credit and
    gateway tenders before cash), never more than each received."""
    rank = {Tender.EXCHANGE: 0, Tender.STORE_CREDIT: 1, Tender.CASH: 3}
    payments = sorted(
        order.payments.select_for_update().filter(status=Payment.Status.CAPTURED).order_by("-pk"),
        key=lambda p: rank.get(p.tender, 2),
    )
    left = amount
    for payment in payments:
        room = payment.amount - payment.refunded_amount
        take = min(room, left)
        if take > 0:
            _refund_payment(order, payment, take, actor=actor, ret=ret)
            left -= take
        if left == 0:
            return
    if left > 0:
        raise ConflictError(_("More would be refunded than was paid."), code="refund_exceeds_paid")


def orders_erase_personal_data(member_ids: list[int]) -> int:
    """PDPA erasure of these members (called by members.privacy inside its transaction): the delivery
    names, phones and addresses and the invoice carriers on their orders go; the orders and their
    figures stay."""
    return Order.objects.filter(member_id__in=member_ids).update(shipping_address={}, invoice={})


def order_exchange(
    *,
    order: Order,
    return_lines: list[dict],
    new_lines: list[tuple[str, int]],
    store: Location,
    actor,
    reason: str = "",
) -> tuple[Return, Order]:
    """An exchange at the counter: the returned lines' value pays the new sale (a counter sale at this
    store by this clerk). Whatever the new sale does not use goes back to the original tenders; what
    it costs beyond the credit stays due, to be paid with another tender. All or nothing: when the new
    goods are not in stock, nothing is returned either."""
    ensure_permission(actor, "orders.add_return")
    ensure_store_allowed(actor, store.pk)
    from omo.org.selectors import pos_channel

    pos = pos_channel()
    with transaction.atomic():
        new = order_place(
            channel=pos,
            lines=new_lines,
            fulfilment=Order.Fulfilment.COUNTER,
            member=Member.objects.filter(pk=order.member_id, status=Member.Status.ACTIVE).first(),
            store=store,
            clerk=actor,
            actor=actor,
        )
        Order.objects.filter(pk=new.pk).update(exchange_of=order)
        ret = return_create(
            order=order,
            lines=return_lines,
            channel=pos,
            store=store,
            refund_to=Return.RefundTo.EXCHANGE,
            reason=reason or _("exchange for %(number)s") % {"number": new.number},
            actor=actor,
        )
        new = Order.objects.select_for_update().get(pk=new.pk)
        credit = min(ret.amount, new.total)
        if credit > 0:
            Payment.objects.create(
                order=new,
                tender=Tender.EXCHANGE,
                amount=credit,
                status=Payment.Status.CAPTURED,
                captured_at=timezone.now(),
                provider_reference=ret.number,
                created_by=_who(actor),
            )
            Order.objects.filter(pk=new.pk).update(paid_total=F("paid_total") + credit)
            new.paid_total += credit
        left = ret.amount - credit
        if left > 0:
            original = Order.objects.select_for_update().get(pk=order.pk)
            _refund_spread(original, left, actor=actor, ret=ret)
        if new.status == S.PENDING_PAYMENT and new.paid_total >= new.total:
            _after_paid(new, actor=actor)
    _send_refunds(order)
    new.refresh_from_db()
    return ret, new


def on_transfer_receiving(sender, transfer: Transfer, **kwargs) -> None:
    """Before a customer-order transfer is received: its order is locked first, so receiving and
    cancelling lock in the same order (order, transfer, stock rows) and cannot deadlock."""
    if transfer.reservation_reference or transfer.kind == Transfer.Kind.CUSTOMER_ORDER:
        order_ids = OrderAllocation.objects.filter(transfer_id=transfer.pk).values_list("line__order_id", flat=True)
        list(Order.objects.select_for_update().filter(pk__in=order_ids).order_by("pk").values_list("pk", flat=True))
