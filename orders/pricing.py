"""One pricing service for every channel: the channel price (sale price in its window), automatic
promotions, a coupon, points redemption, and the tax-included total with its tax portion, rounded per
the currency. Every discount is allocated down to the lines (``LineDiscount``), so a partial return
refunds exactly what the line cost, and the quote explains each discount.

Order of application: the best line promotion per line (percent off a category, buy-N bundle), then the
best spend promotion over what remains, then the coupon on what remains of its eligible lines, then
points (``ORDER_POINT_VALUE`` each, at most ``ORDER_POINTS_MAX_PERCENT`` of what remains). Tax is
worked out on the order total once (a Taiwanese invoice states it so) and spread over the lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import Product, Variant, VariantPrice
from catalog.services import resolve_skus
from members import coupons as coupon_services
from members.loyalty import PurchaseLine, points_for_purchase
from members.models import Member
from members.services import available_points
from omo.core.config_cache import cached
from omo.core.errors import ApplicationError, BusinessRuleError, ConflictError, NotFoundError
from omo.core.money import currency_quantum, money_round
from omo.org.models import Location, SalesChannel
from orders.models import Promotion

MAX_LINES = 100
MAX_QUANTITY = 999


@dataclass
class Discount:
    source: str  # promotion, coupon, points
    label: str
    amount: Decimal
    promotion: Promotion | None = None


@dataclass
class QuoteLine:
    variant: Variant
    quantity: int
    list_price: Decimal
    unit_price: Decimal
    discounts: list[Discount] = field(default_factory=list)
    tax: Decimal = Decimal(0)
    points: int = 0

    @property
    def subtotal(self) -> Decimal:
        return self.unit_price * self.quantity

    @property
    def discount(self) -> Decimal:
        return sum((d.amount for d in self.discounts), Decimal(0))

    @property
    def net(self) -> Decimal:
        return self.subtotal - self.discount


@dataclass
class Quote:
    channel: SalesChannel
    store: Location | None
    member: Member | None
    lines: list[QuoteLine]
    currency: str
    tax_rate: Decimal
    coupon_code: str = ""
    coupon: dict | None = None  # {"applies", "discount", "reasons"}
    coupon_cart: list = field(default_factory=list)  # the cart the coupon was checked on (before it)
    points_redeemed: int = 0
    points_value: Decimal = Decimal(0)
    points_to_earn: int = 0
    summary: list[dict] = field(default_factory=list)  # each discount with its total
    shipping_fee: Decimal = Decimal(0)  # only set prices carry one (a marketplace's order)
    shipping_tax: Decimal = Decimal(0)

    @property
    def subtotal(self) -> Decimal:
        return sum((line.subtotal for line in self.lines), Decimal(0))

    @property
    def discount_total(self) -> Decimal:
        return sum((line.discount for line in self.lines), Decimal(0))

    @property
    def lines_total(self) -> Decimal:
        return sum((line.net for line in self.lines), Decimal(0))

    @property
    def total(self) -> Decimal:
        return self.lines_total + self.shipping_fee

    @property
    def tax_total(self) -> Decimal:
        return sum((line.tax for line in self.lines), self.shipping_tax)


def allocate(amount: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """Splits ``amount`` over the weights in the currency's unit, largest remainders first, so the parts
    add up exactly and no part exceeds its weight."""
    quantum = currency_quantum()
    total = sum(weights, Decimal(0))
    if amount <= 0 or total <= 0:
        return [Decimal(0)] * len(weights)
    amount = min(amount, total)
    raw = [amount * w / total for w in weights]
    parts = [(r / quantum).to_integral_value(rounding=ROUND_FLOOR) * quantum for r in raw]
    left = int(((amount - sum(parts, Decimal(0))) / quantum).to_integral_value())
    order = sorted(range(len(weights)), key=lambda i: (raw[i] - parts[i], weights[i]), reverse=True)
    for i in order:
        if left <= 0:
            break
        if parts[i] + quantum <= weights[i]:
            parts[i] += quantum
            left -= 1
    return parts


def _in_categories(variant: Variant, paths: list[str]) -> bool:
    path = variant.product.category.path
    return not paths or any(path == p or path.startswith(f"{p}/") for p in paths)


def _catalog(channel: SalesChannel, skus: list[str]) -> tuple[dict[str, Variant], dict[int, VariantPrice]]:
    variants = resolve_skus(skus)  # 400 unknown_sku naming them
    prices = {p.variant_id: p for p in VariantPrice.objects.filter(variant__in=variants.values(), channel=channel)}
    return variants, prices


def _merged(wanted: list[tuple[str, int]]) -> dict[str, int]:
    """The cart's quantities by SKU (a SKU on two lines is one line), checked."""
    if not wanted:
        raise ApplicationError(_("Add at least one line."), code="no_lines")
    if len(wanted) > MAX_LINES:
        raise ApplicationError(_("At most %(n)d lines.") % {"n": MAX_LINES}, code="too_many_lines")
    merged: dict[str, int] = {}
    for sku, quantity in wanted:
        if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= MAX_QUANTITY:
            raise ApplicationError(
                _("Quantities are whole numbers from 1 to %(max)d.") % {"max": MAX_QUANTITY},
                code="invalid_quantity",
                details={"sku": sku},
            )
        merged[sku] = merged.get(sku, 0) + quantity
    return merged


def _lines(channel: SalesChannel, wanted: list[tuple[str, int]], at) -> list[QuoteLine]:
    merged = _merged(wanted)
    # the SKUs and their channel prices, reused a few seconds (a flash sale asks for the same SKU all
    # the time); a sale price still starts and ends on the second, from the price row's window
    variants, prices = cached(("skus", channel.pk, tuple(sorted(merged))), lambda: _catalog(channel, list(merged)))
    unsold = sorted(
        sku
        for sku, v in variants.items()
        if v.pk not in prices or not v.is_active or v.product.status != Product.Status.ACTIVE
    )
    if unsold:
        raise BusinessRuleError(
            _("Not sold on %(channel)s: %(skus)s.") % {"channel": channel.code, "skus": ", ".join(unsold)},
            code="not_for_sale",
            details={"skus": unsold},
        )
    lines = []
    for sku, quantity in merged.items():
        variant, price = variants[sku], prices[variants[sku].pk]
        lines.append(QuoteLine(variant, quantity, list_price=price.price, unit_price=price.current_price(at)))
    return lines


def _running(channel_id: int) -> list[Promotion]:
    """Active promotions of the channel (all channels, or this one) with their categories and stores;
    cached a few seconds, then filtered by the moment."""
    return list(
        Promotion.objects.filter(is_active=True)
        .filter(Q(channels__isnull=True) | Q(channels=channel_id))
        .distinct()
        .prefetch_related("categories", "stores")
    )


def _promotions(channel: SalesChannel, store: Location | None, at) -> list[Promotion]:
    rows = [
        p for p in cached(("promotions", channel.pk), lambda: _running(channel.pk)) if p.starts_at <= at < p.ends_at
    ]
    out = []
    for promotion in rows:
        stores = {s.pk for s in promotion.stores.all()}
        if stores and (store is None or store.pk not in stores):
            continue
        promotion.paths = [c.path for c in promotion.categories.all()]
        out.append(promotion)
    return out


def _apply_promotions(lines: list[QuoteLine], promotions: list[Promotion]) -> None:
    # line promotions: the best one per line
    best: list[tuple[Decimal, Promotion | None]] = [(Decimal(0), None)] * len(lines)
    for promotion in promotions:
        if promotion.kind == Promotion.Kind.SPEND_AMOUNT:
            continue
        eligible = [i for i, line in enumerate(lines) if _in_categories(line.variant, promotion.paths)]
        if (
            promotion.kind == Promotion.Kind.BUNDLE_PERCENT
            and sum(lines[i].quantity for i in eligible) < promotion.min_quantity
        ):
            continue
        if sum((lines[i].subtotal for i in eligible), Decimal(0)) < promotion.min_spend:
            continue
        for i in eligible:
            amount = money_round(lines[i].subtotal * promotion.percent / Decimal(100))
            if amount > best[i][0]:
                best[i] = (amount, promotion)
    for line, (amount, promotion) in zip(lines, best, strict=True):
        if promotion is not None and amount > 0:
            line.discounts.append(Discount("promotion", promotion.name, amount, promotion))
    # spend promotions: the best one over what remains
    chosen, chosen_amount, chosen_idx = None, Decimal(0), []
    for promotion in promotions:
        if promotion.kind != Promotion.Kind.SPEND_AMOUNT:
            continue
        eligible = [i for i, line in enumerate(lines) if _in_categories(line.variant, promotion.paths)]
        base = sum((lines[i].net for i in eligible), Decimal(0))
        if not eligible or base < promotion.min_spend:
            continue
        amount = min(promotion.amount, base)
        if amount > chosen_amount:
            chosen, chosen_amount, chosen_idx = promotion, amount, eligible
    if chosen is not None:
        for i, part in zip(chosen_idx, allocate(chosen_amount, [lines[i].net for i in chosen_idx]), strict=True):
            if part > 0:
                lines[i].discounts.append(Discount("promotion", chosen.name, part, chosen))


def quote(
    *,
    channel: SalesChannel,
    lines: list[tuple[str, int]],
    member: Member | None = None,
    store: Location | None = None,
    coupon_code: str = "",
    points: int = 0,
    at=None,
    strict: bool = False,
) -> Quote:
    """Prices a cart without placing anything. With ``strict`` (placing an order) a coupon that does not
    apply is a 409 ``coupon_not_applicable`` with the reasons and too many points a 409
    ``insufficient_points``; a quote reports them instead."""
    at = at or timezone.now()
    priced = _lines(channel, lines, at)
    _apply_promotions(priced, _promotions(channel, store, at))
    result = Quote(
        channel=channel,
        store=store,
        member=member,
        lines=priced,
        currency=settings.OMO_CURRENCY,
        tax_rate=settings.ORDER_TAX_RATE,
    )
    coupon_code = (coupon_code or "").strip().upper()
    if coupon_code:
        result.coupon_code = coupon_code
        _apply_coupon(result, at=at, strict=strict)
    if points:
        _apply_points(result, points, strict=strict)
    _apply_tax(result)
    if member is not None and member.status == Member.Status.ACTIVE and not strict:  # placing: earned when paid
        try:
            result.points_to_earn = points_for_purchase(
                member=member,
                channel=channel,
                lines=[PurchaseLine(line.variant, line.net) for line in priced],
                at=at,
            )
        except BusinessRuleError:
            result.points_to_earn = 0  # no earn rule set up: the brand gives no points
    result.summary = _summary(priced)
    return result


@dataclass(frozen=True)
class SetPrices:
    """Prices a trusted service caller sets instead of this pricing: a marketplace's order, whose buyer
    paid the marketplace's price there. ``unit_prices`` by our SKU (tax included, after whatever the
    marketplace took off) and the ``shipping_fee`` the buyer paid. Never built from a frontend's input."""

    unit_prices: dict[str, Decimal]
    shipping_fee: Decimal = Decimal(0)


def set_amount(value, *, sku: str | None = None) -> Decimal:
    """A set price: a number, zero or more, in the currency's unit (no rounding: a price that does not
    fit would change what the buyer paid)."""
    try:
        amount = Decimal(str(value))
    except Exception:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount < 0 or money_round(amount) != amount:
        raise ApplicationError(
            _("Amounts are numbers, zero or more, in the currency's unit."),
            code="invalid_amount",
            details={"sku": sku} if sku else {},
        )
    return money_round(amount)


def quote_at_prices(
    *,
    channel: SalesChannel,
    lines: list[tuple[str, int]],
    prices: SetPrices,
    member: Member | None = None,
    store: Location | None = None,
) -> Quote:
    """Prices a cart at ``prices`` (see ``SetPrices``): no promotion, coupon or points on top, so the
    order's total is exactly the lines at those prices plus the shipping fee. The SKUs must be on sale
    (active, their product active: 422 ``not_for_sale``) but need no price on the channel; the
    channel's price, when it has one, is kept as the line's list price for comparison. Tax is worked
    out once on the whole total, shipping included."""
    merged = _merged(lines)
    variants = resolve_skus(list(merged))  # 400 unknown_sku naming them
    unsold = sorted(sku for sku, v in variants.items() if not v.is_active or v.product.status != Product.Status.ACTIVE)
    if unsold:
        raise BusinessRuleError(
            _("Not sold on %(channel)s: %(skus)s.") % {"channel": channel.code, "skus": ", ".join(unsold)},
            code="not_for_sale",
            details={"skus": unsold},
        )
    missing = sorted(set(merged) - set(prices.unit_prices))
    if missing:
        raise ApplicationError(
            _("No price set for %(skus)s.") % {"skus": ", ".join(missing)},
            code="price_missing",
            details={"skus": missing},
        )
    listed = {
        p.variant_id: p.price for p in VariantPrice.objects.filter(variant__in=list(variants.values()), channel=channel)
    }
    priced = []
    for sku, quantity in merged.items():
        variant, unit_price = variants[sku], set_amount(prices.unit_prices[sku], sku=sku)
        priced.append(
            QuoteLine(variant, quantity, list_price=listed.get(variant.pk, unit_price), unit_price=unit_price)
        )
    result = Quote(
        channel=channel,
        store=store,
        member=member,
        lines=priced,
        currency=settings.OMO_CURRENCY,
        tax_rate=settings.ORDER_TAX_RATE,
        shipping_fee=set_amount(prices.shipping_fee),
    )
    _apply_tax(result)
    return result


def _cart_lines(lines: list[QuoteLine]) -> list[coupon_services.CartLine]:
    return [coupon_services.CartLine(line.variant, line.quantity, line.net / line.quantity) for line in lines]


def _apply_coupon(result: Quote, *, at, strict: bool) -> None:
    cart = _cart_lines(result.lines)
    result.coupon_cart = cart
    try:
        check = coupon_services.coupon_validate(
            code=result.coupon_code, lines=cart, member=result.member, channel=result.channel, store=result.store, at=at
        )
    except NotFoundError as error:
        if strict:
            raise
        result.coupon = {
            "applies": False,
            "discount": Decimal(0),
            "reasons": [{"code": error.code, "message": error.message}],
        }
        return
    result.coupon = {"applies": check.applies, "discount": check.discount, "reasons": check.reasons}
    if not check.applies:
        if strict:
            raise ConflictError(
                check.reasons[0]["message"], code="coupon_not_applicable", details={"reasons": check.reasons}
            )
        return
    campaign = check.coupon.campaign
    eligible = coupon_services.coupon_eligible_lines(campaign, cart)
    idx = [i for i, ok in enumerate(eligible) if ok]
    label = _("Coupon %(code)s") % {"code": result.coupon_code}
    for i, part in zip(idx, allocate(check.discount, [result.lines[i].net for i in idx]), strict=True):
        if part > 0:
            result.lines[i].discounts.append(Discount("coupon", label, part))


def _apply_points(result: Quote, points: int, *, strict: bool) -> None:
    if not isinstance(points, int) or isinstance(points, bool) or points < 0:
        raise ApplicationError(_("Points are a whole number, zero or more."), code="invalid_points")
    if result.member is None:
        raise BusinessRuleError(_("Only a member can redeem points."), code="member_required")
    held = available_points(result.member, today=timezone.localdate())
    if points > held:
        if strict:
            raise ConflictError(
                _("%(member)s has %(held)d points, not %(asked)d.")
                % {"member": result.member.member_no, "held": held, "asked": points},
                code="insufficient_points",
                details={"available": held, "requested": points},
            )
        points = held
    value_each = settings.ORDER_POINT_VALUE
    ceiling = money_round(result.total * Decimal(settings.ORDER_POINTS_MAX_PERCENT) / Decimal(100))
    usable = int((ceiling / value_each).to_integral_value(rounding=ROUND_FLOOR)) if value_each > 0 else 0
    if points > usable and strict:
        raise BusinessRuleError(
            _("At most %(n)d points can be used on this order.") % {"n": usable},
            code="too_many_points",
            details={"maximum": usable},
        )
    points = min(points, usable)
    value = money_round(points * value_each)
    if points <= 0 or value <= 0:
        return
    result.points_redeemed, result.points_value = points, value
    label = _("%(n)d points") % {"n": points}
    weights = [line.net for line in result.lines]
    parts = allocate(value, weights)
    point_parts = _split_points(points, parts)
    for line, part, share in zip(result.lines, parts, point_parts, strict=True):
        if part > 0:
            line.discounts.append(Discount("points", label, part))
        line.points = share


def _split_points(points: int, parts: list[Decimal]) -> list[int]:
    """The redeemed points per line, in proportion to each line's share of their value (whole points
    that add up), so a returned line gives back exactly its points."""
    total = sum(parts, Decimal(0))
    if total <= 0:
        return [0] * len(parts)
    raw = [Decimal(points) * p / total for p in parts]
    whole = [int(r) for r in raw]
    for i in sorted(range(len(parts)), key=lambda i: raw[i] - whole[i], reverse=True)[: points - sum(whole)]:
        whole[i] += 1
    return whole


def _apply_tax(result: Quote) -> None:
    rate = result.tax_rate
    if rate <= 0:
        return
    total = result.total
    tax = money_round(total - total / (1 + rate))
    weights = [line.net for line in result.lines]
    if result.shipping_fee > 0:  # the shipping fee carries its share of the tax, as a line would
        weights.append(result.shipping_fee)
    parts = allocate(tax, weights)
    for line, part in zip(result.lines, parts, strict=False):
        line.tax = part
    result.shipping_tax = parts[len(result.lines)] if result.shipping_fee > 0 else Decimal(0)


def _summary(lines: list[QuoteLine]) -> list[dict]:
    totals: dict[tuple[str, str], Decimal] = {}
    for line in lines:
        for d in line.discounts:
            totals[(d.source, d.label)] = totals.get((d.source, d.label), Decimal(0)) + d.amount
    return [{"source": source, "label": label, "amount": amount} for (source, label), amount in totals.items()]
