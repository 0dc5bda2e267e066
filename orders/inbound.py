"""Orders coming in from marketplaces (Shopee, momo, PChome...): every write of that intake.

A marketplace channel posts each of its orders to ``POST /api/v1/orders/inbound/`` (the contract is in
``orders/api/views.py``, ``InboundOrderApi``), signed with the channel's inbound secret. Here:

- ``inbound_order_receive`` keeps the order once per (channel, marketplace order id): the same body
  again answers what the first did and creates nothing; another body under the same id is a 409
  ``inbound_order_changed``. Two copies arriving at the same moment meet at the unique constraint: the
  second waits for the first's commit and answers with its record.
- The order is placed as the channel's other online orders are (delivery, the channel's allocation),
  at the marketplace's prices (``pricing.SetPrices``: what the buyer paid there, shipping included, no
  promotion, coupon or points of ours), then paid with the money the marketplace collected
  (``Tender.MARKETPLACE``, captured at once), all in one transaction: there is never an unpaid
  marketplace order waiting to expire.
- A line we cannot sell (unknown or inactive SKU, no stock anywhere...) does not fail the request: the
  record waits in the review queue with the problems listed; HQ fixes the catalog (maps the
  marketplace SKU, creates the variant, receives stock) and retries, or rejects it with a reason.
- The buyer is matched to an existing member by phone, then email; nobody is registered here (a
  marketplace's buyer has not joined the brand's program).

Lock order: the inbound record, then the member, then the stock rows (inside ``order_place``).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from catalog.models import Product, Variant
from members import loyalty
from members.models import Member
from members.services import normalize_email, normalize_phone
from omo.core.errors import ApplicationError, BusinessRuleError, ConflictError, PermissionDeniedError
from omo.events import signing
from omo.org.access import ensure_permission
from omo.org.models import SalesChannel
from orders import pricing, services
from orders.models import InboundOrder, MarketplaceSettings, MarketplaceSku, Order, Tender

S = InboundOrder.Status
# after a rotation the old secret is still accepted this long, so the marketplace can switch over
SECRET_GRACE = timedelta(hours=24)
ADDRESS_FIELDS = ("name", "phone", "address", "postcode", "city")


class SignatureError(ApplicationError):
    """A signed request whose signature is missing, wrong or too old (HTTP 401); nothing is written."""

    status_code = 401
    default_code = "signature_invalid"


def _signature_message(code: str) -> str:
    return {
        "signature_missing": _("Sign the request: send the X-OMO-Timestamp and X-OMO-Signature headers."),
        "signature_expired": _("The signature's timestamp is too old or in the future: a replayed request is refused."),
    }.get(code, _("The signature does not match the body."))


# --- the channel and its settings ----------------------------------------------------------------------


def ensure_marketplace(channel: SalesChannel) -> SalesChannel:
    """Only a marketplace channel sends orders in (403 ``not_a_marketplace``)."""
    if channel.kind != SalesChannel.Kind.MARKETPLACE:
        raise PermissionDeniedError(
            _("Only a marketplace channel sends its orders in; %(channel)s is not one.") % {"channel": channel.code},
            code="not_a_marketplace",
        )
    return channel


def inbound_signature_verify(
    *, channel: SalesChannel, body: bytes, timestamp: str | None, signature_header: str | None, now=None
) -> None:
    """Checks that ``body`` was signed with the channel's inbound secret (or, for a while after a
    rotation, the previous one) within the tolerance: a 401 ``signature_missing``, ``signature_invalid``
    or ``signature_expired`` otherwise; a 422 ``inbound_not_configured`` when HQ has not set the channel
    up. Reads only."""
    settings_row = MarketplaceSettings.objects.filter(channel=channel).first()
    if settings_row is None:
        raise BusinessRuleError(
            _("Orders from %(channel)s are not set up yet: HQ creates its inbound settings first.")
            % {"channel": channel.code},
            code="inbound_not_configured",
        )
    secrets = [settings_row.secret]
    until = settings_row.previous_secret_until
    if settings_row.previous_secret and until and until > timezone.now():
        secrets.append(settings_row.previous_secret)
    failure = None
    for secret in secrets:
        try:
            signing.verify(secret, body, timestamp=timestamp, signature_header=signature_header, now=now)
            return
        except signing.BadSignature as bad:
            failure = bad
            if bad.code != "signature_invalid":
                break  # missing or expired whatever the secret
    raise SignatureError(_signature_message(failure.code), code=failure.code)


def marketplace_settings_create(*, channel: SalesChannel, actor) -> MarketplaceSettings:
    """Sets a marketplace channel up for inbound orders, with a new signing secret (HQ gives it to the
    marketplace's connector)."""
    ensure_permission(actor, "orders.add_marketplacesettings")
    ensure_marketplace(channel)
    row = MarketplaceSettings(channel=channel, secret=signing.new_secret(), created_by=actor)
    row.full_clean()
    with transaction.atomic():
        row.save()
    return row


def marketplace_secret_rotate(*, settings_row: MarketplaceSettings, actor, now=None) -> MarketplaceSettings:
    """A new signing secret; the old one is still accepted for ``SECRET_GRACE``."""
    ensure_permission(actor, "orders.change_marketplacesettings")
    now = now or timezone.now()
    with transaction.atomic():
        row = MarketplaceSettings.objects.select_for_update().get(pk=settings_row.pk)
        row.previous_secret, row.previous_secret_until = row.secret, now + SECRET_GRACE
        row.secret, row.rotated_at, row.rotated_by = signing.new_secret(), now, actor
        row.save(update_fields=["previous_secret", "previous_secret_until", "secret", "rotated_at", "rotated_by"])
    return row


# --- the contract, in one canonical form ---------------------------------------------------------------


def _text(value, longest: int) -> str:
    return str(value if value is not None else "").strip()[:longest]


def _money(value, what: str) -> str:
    try:
        amount = pricing.set_amount(value)
    except ApplicationError:
        raise ApplicationError(
            _("%(field)s: an amount, zero or more, in the currency's unit.") % {"field": what},
            code="invalid_amount",
            details={"field": what},
        ) from None
    return str(amount)


def _moment(value) -> str:
    moment = parse_datetime(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime) or timezone.is_naive(moment):
        raise ApplicationError(
            _("placed_at: a date and time with its time zone (ISO 8601)."),
            code="invalid_placed_at",
        )
    return moment.astimezone(UTC).isoformat()


def inbound_payload(data: dict) -> dict:
    """The contract's fields in one canonical form (what is stored and fingerprinted): text trimmed,
    amounts as text in the currency's unit, the time in UTC, only the known fields. So the same order
    sent with other spacing, key order or ``"990"`` for ``990.00`` is still the same order."""
    order_id = _text(data.get("marketplace_order_id"), 64)
    if not order_id:
        raise ApplicationError(_("marketplace_order_id is required."), code="invalid")
    lines = data.get("lines") or []
    if not isinstance(lines, list) or not 1 <= len(lines) <= pricing.MAX_LINES:
        raise ApplicationError(_("Send 1 to %(n)d lines.") % {"n": pricing.MAX_LINES}, code="invalid_lines")
    clean_lines = []
    for i, line in enumerate(lines):
        quantity = line.get("quantity")
        sku = _text(line.get("sku"), 64)
        if not sku or type(quantity) is not int or not 1 <= quantity <= pricing.MAX_QUANTITY:
            raise ApplicationError(
                _("Each line needs a SKU and a quantity from 1 to %(max)d.") % {"max": pricing.MAX_QUANTITY},
                code="invalid_lines",
                details={"line": i},
            )
        clean_lines.append(
            {"sku": sku, "quantity": quantity, "unit_price": _money(line.get("unit_price"), "unit_price")}
        )
    buyer = data.get("buyer") or {}
    address = data.get("shipping_address") or {}
    return {
        "marketplace_order_id": order_id,
        "placed_at": _moment(data.get("placed_at")),
        "buyer": {key: _text(buyer.get(key), 200) for key in ("name", "phone", "email")},
        "lines": clean_lines,
        "shipping_fee": _money(data.get("shipping_fee") or 0, "shipping_fee"),
        "shipping_address": {key: _text(address.get(key), 200) for key in ADDRESS_FIELDS},
        "paid_amount": _money(data.get("paid_amount"), "paid_amount"),
        "payment_reference": _text(data.get("payment_reference"), 100),
    }


def _fingerprint(payload: dict) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _check_amounts(payload: dict) -> None:
    """What the marketplace collected is the lines at their prices plus shipping, to the unit: our
    revenue is what the marketplace reports (422 ``paid_amount_mismatch`` otherwise)."""
    expected = sum(
        (Decimal(line["unit_price"]) * line["quantity"] for line in payload["lines"]), Decimal(payload["shipping_fee"])
    )
    if Decimal(payload["paid_amount"]) != expected:
        raise BusinessRuleError(
            _("paid_amount %(paid)s is not the lines plus shipping (%(expected)s).")
            % {"paid": payload["paid_amount"], "expected": expected},
            code="paid_amount_mismatch",
            details={"paid_amount": payload["paid_amount"], "expected": str(expected)},
        )


# --- turning a record into an order --------------------------------------------------------------------


def _problem(code: str, message: str, **details) -> dict:
    return {"code": code, "message": message, "details": details}


def _resolve(channel: SalesChannel, lines: list[dict]) -> tuple[list[tuple[str, int]], dict[str, Decimal], list]:
    """Our SKU for each line (the channel's mapping first, then our own SKU), the set prices, and every
    line that stops the order (all of them, so HQ fixes them in one go)."""
    skus = {line["sku"] for line in lines}
    mapped = {
        m.marketplace_sku: m.variant
        for m in MarketplaceSku.objects.filter(channel=channel, marketplace_sku__in=skus).select_related(
            "variant__product"
        )
    }
    own = {v.sku: v for v in Variant.objects.filter(sku__in=skus - set(mapped)).select_related("product")}
    wanted, prices, problems = [], {}, []
    for i, line in enumerate(lines):
        sku = line["sku"]
        variant = mapped.get(sku) or own.get(sku)
        if variant is None:
            problems.append(
                _problem(
                    "unknown_sku",
                    _("Unknown SKU %(sku)s: map it to one of ours or create the variant.") % {"sku": sku},
                    line=i,
                    sku=sku,
                )
            )
            continue
        if not variant.is_active or variant.product.status != Product.Status.ACTIVE:
            problems.append(
                _problem(
                    "sku_inactive",
                    _("%(sku)s is not on sale (inactive).") % {"sku": variant.sku},
                    line=i,
                    sku=sku,
                    variant=variant.sku,
                )
            )
            continue
        unit_price = Decimal(line["unit_price"])
        if prices.get(variant.sku, unit_price) != unit_price:
            problems.append(
                _problem(
                    "sku_repeated_at_another_price",
                    _("%(sku)s is on the order twice at different prices.") % {"sku": variant.sku},
                    line=i,
                    sku=sku,
                    variant=variant.sku,
                )
            )
            continue
        prices[variant.sku] = unit_price
        wanted.append((variant.sku, line["quantity"]))
    return wanted, prices, problems


def _active(member: Member | None) -> Member | None:
    for _hop in range(5):  # a merged member's orders go to the member it was merged into
        if member is None or member.status != Member.Status.MERGED:
            break
        member = Member.objects.filter(pk=member.merged_into_id).first()
    return member if member is not None and member.status == Member.Status.ACTIVE else None


def buyer_member(buyer: dict) -> Member | None:
    """The existing member the buyer is, by phone first, then by email; nobody is registered here. A
    phone or email a marketplace masked or mangled matches no one."""
    try:
        phone = normalize_phone(buyer["phone"]) if buyer.get("phone") else None
    except ApplicationError:
        phone = None
    try:
        email = normalize_email(buyer["email"]) if buyer.get("email") else None
    except ApplicationError:
        email = None
    if phone:
        member = _active(Member.objects.filter(phone=phone).first())
        if member is not None:
            return member
    if email:
        return _active(Member.objects.filter(email=email).first())
    return None


def _attempt(record: InboundOrder) -> None:
    """Tries to make the record an order, in the caller's transaction (the record locked or just
    inserted): placed and paid, and the record ``placed``; or the problems listed and the record left
    (or kept) in ``review``, with nothing of the attempt left behind."""
    payload = record.payload
    wanted, prices, problems = _resolve(record.channel, payload["lines"])
    order = None
    if not problems:
        member = buyer_member(payload.get("buyer") or {})
        paid = Decimal(payload["paid_amount"])
        try:
            with transaction.atomic():
                if member is not None:  # the member's row before the stock rows (the project's lock order)
                    member = loyalty.lock_for_purchase(member.pk)
                order = services.order_place(
                    channel=record.channel,
                    lines=wanted,
                    fulfilment=Order.Fulfilment.SHIP,
                    member=member,
                    shipping_address=payload["shipping_address"],
                    idempotency_key=f"inbound:{record.channel_id}:{record.marketplace_order_id}",
                    prices=pricing.SetPrices(prices, Decimal(payload["shipping_fee"])),
                )
                if paid > 0:  # a free order was paid by order_place already
                    order = services.order_record_collected(
                        order=order,
                        tender=Tender.MARKETPLACE,
                        amount=paid,
                        reference=payload["payment_reference"] or record.marketplace_order_id,
                        channel=record.channel,
                    )
        except ApplicationError as error:
            order, problems = None, [error.as_dict()]
    record.order = order
    record.status = S.PLACED if order is not None else S.REVIEW
    record.problems = problems


def _same_or_changed(record: InboundOrder, fingerprint: str) -> InboundOrder:
    if record.fingerprint != fingerprint:
        raise ConflictError(
            _("Marketplace order %(id)s was sent before with other contents.") % {"id": record.marketplace_order_id},
            code="inbound_order_changed",
            details={
                "marketplace_order_id": record.marketplace_order_id,
                "status": record.status,
                "order": record.order.number if record.order_id else None,
            },
        )
    return record


def _existing(channel: SalesChannel, marketplace_order_id: str) -> InboundOrder | None:
    return (
        InboundOrder.objects.select_related("channel", "order")
        .filter(channel=channel, marketplace_order_id=marketplace_order_id)
        .first()
    )


def inbound_order_receive(*, channel: SalesChannel, data: dict, now=None) -> tuple[InboundOrder, bool]:
    """Takes in a marketplace's order (``data``: the contract's fields) and returns its record and
    whether this call created it. New: placed and paid (status ``placed``), or kept for review with the
    problems (``review``). Sent before with the same contents: the first record, nothing new. Sent
    before with other contents: 409 ``inbound_order_changed``. Malformed amounts: 400/422, nothing
    kept."""
    ensure_marketplace(channel)
    payload = inbound_payload(data)
    _check_amounts(payload)
    fingerprint = _fingerprint(payload)
    order_id = payload["marketplace_order_id"]
    existing = _existing(channel, order_id)
    if existing is not None:
        return _same_or_changed(existing, fingerprint), False
    now = now or timezone.now()
    try:
        with transaction.atomic():
            # first, so a twin request waits here (on the unique index) before it touches any stock
            record = InboundOrder.objects.create(
                channel=channel,
                marketplace_order_id=order_id,
                status=S.REVIEW,
                payload=payload,
                fingerprint=fingerprint,
                marketplace_placed_at=datetime.fromisoformat(payload["placed_at"]),
                last_attempt_at=now,
            )
            _attempt(record)
            record.save(update_fields=["order", "status", "problems"])
    except IntegrityError:
        existing = _existing(channel, order_id)  # the twin committed first: its record is the answer
        if existing is None:
            raise
        return _same_or_changed(existing, fingerprint), False
    return record, True


def _locked_in_review(record: InboundOrder) -> InboundOrder:
    record = InboundOrder.objects.select_for_update().select_related("channel").get(pk=record.pk)
    if record.status != S.REVIEW:
        raise ConflictError(
            _("Only an order waiting for review can be retried or rejected; this one is %(status)s.")
            % {"status": S(record.status).label},
            code="inbound_not_in_review",
            details={"status": record.status},
        )
    return record


def inbound_order_retry(*, record: InboundOrder, actor, now=None) -> InboundOrder:
    """HQ tries an order in review again, after fixing what stopped it (a SKU mapped, a variant created
    or activated, stock received): it becomes an order, or stays in review with today's problems. The
    record is locked, so two retries at once place one order."""
    ensure_permission(actor, "orders.change_inboundorder")
    now = now or timezone.now()
    with transaction.atomic():
        record = _locked_in_review(record)
        _attempt(record)
        InboundOrder.objects.filter(pk=record.pk).update(
            order=record.order,
            status=record.status,
            problems=record.problems,
            attempts=F("attempts") + 1,
            last_attempt_at=now,
            last_attempt_by=actor,
        )
    record.refresh_from_db()
    return record


def inbound_order_reject(*, record: InboundOrder, actor, reason: str, now=None) -> InboundOrder:
    """HQ turns down an order in review (the marketplace is told to cancel it there), recording who,
    when and why."""
    ensure_permission(actor, "orders.change_inboundorder")
    reason = (reason or "").strip()[:200]
    if not reason:
        raise ApplicationError(_("Say why the order is rejected."), code="reason_required")
    with transaction.atomic():
        record = _locked_in_review(record)
        record.status, record.rejected_at, record.rejected_by = S.REJECTED, now or timezone.now(), actor
        record.reject_reason = reason
        record.save(update_fields=["status", "rejected_at", "rejected_by", "reject_reason"])
    return record


def inbound_erase_personal_data(member_ids: list[int]) -> int:
    """PDPA erasure (a ``members.privacy`` hook, in its transaction): the buyer and the delivery address
    of these members' marketplace orders go from the records as received; the lines and amounts stay."""
    records = list(InboundOrder.objects.filter(order__member_id__in=member_ids).only("pk", "payload"))
    for record in records:
        record.payload = {**record.payload, "buyer": {}, "shipping_address": {}}
    InboundOrder.objects.bulk_update(records, ["payload"])
    return len(records)
