"""One order model for every channel: promotions, orders and their lines with every discount allocated
to the line, payments in several tenders, the status history, fulfilments (shipments and pickup
batches) and returns with their refunds; and store credit, a member's money held by the brand."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

USER = settings.AUTH_USER_MODEL
MONEY = {"max_digits": 14, "decimal_places": 2}


class Promotion(models.Model):
    """An automatic promotion: no code, it applies to every cart it matches, the same online and in
    store unless limited to channels or stores.

    - ``category_percent``: percent off the lines of some categories (and below);
    - ``spend_amount``: an amount off the order once eligible lines reach ``min_spend``;
    - ``bundle_percent``: buy ``min_quantity`` or more eligible items, get percent off them.
    A line gets the best of the line promotions (category, bundle) that match it; order promotions
    (spend) apply after them, the best one only."""

    class Kind(models.TextChoices):
        CATEGORY_PERCENT = "category_percent", _("Percent off categories")
        SPEND_AMOUNT = "spend_amount", _("Amount off above a spend")
        BUNDLE_PERCENT = "bundle_percent", _("Buy N, get percent off")

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    percent = models.DecimalField(_("percent off"), max_digits=5, decimal_places=2, null=True, blank=True)
    amount = models.DecimalField(_("amount off"), null=True, blank=True, **MONEY)
    min_spend = models.DecimalField(_("minimum spend"), default=0, **MONEY)
    min_quantity = models.PositiveIntegerField(_("minimum items"), default=1)
    categories = models.ManyToManyField(
        "catalog.Category",
        verbose_name=_("only for categories"),
        blank=True,
        related_name="+",
        help_text=_("Empty: everything (subcategories count)."),
    )
    channels = models.ManyToManyField(
        "org.SalesChannel", verbose_name=_("only on channels"), blank=True, related_name="+"
    )
    stores = models.ManyToManyField(
        "org.Location",
        verbose_name=_("only at stores"),
        blank=True,
        related_name="+",
        help_text=_("Empty: everywhere. Set: only sales at these stores (online orders do not match)."),
    )
    starts_at = models.DateTimeField(_("from"))
    ends_at = models.DateTimeField(_("until"))
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("promotion")
        verbose_name_plural = _("promotions")
        ordering = ["-starts_at", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="promotion_window_ordered"),
            models.CheckConstraint(
                condition=(
                    Q(kind__in=["category_percent", "bundle_percent"], percent__gt=0, percent__lte=100)
                    | Q(kind="spend_amount", amount__gt=0)
                ),
                name="promotion_discount_valid",
            ),
            models.CheckConstraint(condition=Q(min_quantity__gte=1), name="promotion_min_quantity_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class OrderStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", _("Pending payment")
    PAID = "paid", _("Paid")
    FULFILLING = "fulfilling", _("Fulfilling")
    READY_FOR_PICKUP = "ready_for_pickup", _("Ready for pickup")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    PARTIALLY_RETURNED = "partially_returned", _("Partially returned")
    RETURNED = "returned", _("Returned")


class Order(models.Model):
    class Fulfilment(models.TextChoices):
        COUNTER = "counter", _("Handed over at the counter")
        SHIP = "ship", _("Shipped")
        PICKUP = "pickup", _("Picked up in store")

    number = models.CharField(_("order number"), max_length=24, unique=True)
    channel = models.ForeignKey(
        "org.SalesChannel", verbose_name=_("channel"), on_delete=models.PROTECT, related_name="+"
    )
    store = models.ForeignKey(
        "org.Location",
        verbose_name=_("store"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("The store that sold it (POS, endless aisle) or hands it over (pickup)."),
    )
    member = models.ForeignKey(
        "members.Member",
        verbose_name=_("member"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
    )
    clerk = models.ForeignKey(
        USER, verbose_name=_("clerk"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    referral_code = models.CharField(_("referral code"), max_length=12, blank=True)
    fulfilment = models.CharField(_("fulfilment"), max_length=10, choices=Fulfilment.choices)
    status = models.CharField(_("status"), max_length=20, choices=OrderStatus.choices, db_index=True)
    currency = models.CharField(_("currency"), max_length=3)
    subtotal = models.DecimalField(_("subtotal"), **MONEY)
    discount_total = models.DecimalField(_("discounts"), **MONEY)
    total = models.DecimalField(_("total (tax included)"), **MONEY)
    tax_total = models.DecimalField(_("of which tax"), **MONEY)
    tax_rate = models.DecimalField(_("tax rate"), max_digits=5, decimal_places=4)
    shipping_fee = models.DecimalField(
        _("shipping fee"),
        default=0,
        db_default=0,
        help_text=_("Part of the total; set by a marketplace on its orders."),
        **MONEY,
    )
    points_redeemed = models.PositiveIntegerField(_("points redeemed"), default=0)
    points_earned = models.PositiveIntegerField(_("points earned"), default=0)
    coupon_code = models.CharField(_("coupon"), max_length=32, blank=True)
    paid_total = models.DecimalField(_("paid"), default=0, **MONEY)
    refunded_total = models.DecimalField(_("refunded"), default=0, **MONEY)
    pickup_code = models.CharField(_("pickup code"), max_length=8, blank=True, db_index=True)
    shipping_address = models.JSONField(_("ship to"), default=dict, blank=True)
    invoice = models.JSONField(
        _("e-invoice details"), default=dict, blank=True, help_text=_("A mobile barcode carrier or a tax id.")
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=300, null=True, blank=True, unique=True)
    exchange_of = models.ForeignKey(
        "self", verbose_name=_("exchange of"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        USER, verbose_name=_("placed by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    placed_at = models.DateTimeField(_("placed at"), auto_now_add=True, db_index=True)
    pay_by = models.DateTimeField(_("pay by"), null=True, blank=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    ready_at = models.DateTimeField(_("ready at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)

    STORE_FIELD = "store"

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-placed_at"]
        indexes = [
            models.Index(fields=["member", "placed_at"], name="order_member_placed"),
            models.Index(fields=["store", "status"], name="order_store_status"),
            models.Index(fields=["status", "pay_by"], name="order_unpaid_due", condition=Q(status="pending_payment")),
            models.Index(fields=["paid_at"], name="order_paid_at"),  # the dashboard counts sales by paid day
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(total__gte=0, subtotal__gte=0, discount_total__gte=0), name="order_money_ok"
            ),
            models.CheckConstraint(condition=Q(shipping_fee__gte=0), name="order_shipping_fee_ok"),
            models.CheckConstraint(
                condition=Q(refunded_total__gte=0, refunded_total__lte=F("paid_total")), name="order_refund_within_paid"
            ),
            models.CheckConstraint(
                condition=~Q(fulfilment="pickup") | Q(store__isnull=False), name="order_pickup_has_store"
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def amount_due(self):
        return self.total - self.paid_total


class OrderLine(models.Model):
    """A SKU on an order with what the customer paid for it after every discount (``net``), the tax
    in that, the points redeemed against it, and how much has been fulfilled, returned and refunded."""

    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.CASCADE, related_name="lines")
    variant = models.ForeignKey(
        "catalog.Variant", verbose_name=_("variant"), on_delete=models.PROTECT, related_name="+"
    )
    sku = models.CharField(_("SKU"), max_length=40)
    name = models.CharField(_("name"), max_length=200)
    quantity = models.PositiveIntegerField(_("quantity"))
    list_price = models.DecimalField(_("list price"), **MONEY)
    unit_price = models.DecimalField(_("unit price"), **MONEY)
    discount = models.DecimalField(_("discounts"), default=0, **MONEY)
    net = models.DecimalField(_("paid for the line"), **MONEY)
    tax = models.DecimalField(_("of which tax"), default=0, **MONEY)
    points_redeemed = models.PositiveIntegerField(_("points redeemed on it"), default=0)
    fulfilled_quantity = models.PositiveIntegerField(_("fulfilled"), default=0)
    returned_quantity = models.PositiveIntegerField(_("returned"), default=0)
    refunded_amount = models.DecimalField(_("refunded"), default=0, **MONEY)

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        ordering = ["order_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="order_line_quantity_positive"),
            models.CheckConstraint(condition=Q(net__gte=0, discount__gte=0), name="order_line_money_ok"),
            models.CheckConstraint(
                condition=Q(fulfilled_quantity__lte=F("quantity")), name="order_line_fulfilled_within_quantity"
            ),
            models.CheckConstraint(
                condition=Q(returned_quantity__lte=F("fulfilled_quantity")), name="order_line_returned_within_fulfilled"
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0, refunded_amount__lte=F("net")), name="order_line_refund_within_net"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} × {self.quantity}"


class LineDiscount(models.Model):
    """One discount's share of one line: a promotion, the coupon or the points, so a return refunds
    exactly what the line cost and the quote can explain every discount."""

    class Source(models.TextChoices):
        PROMOTION = "promotion", _("Promotion")
        COUPON = "coupon", _("Coupon")
        POINTS = "points", _("Points")

    line = models.ForeignKey(OrderLine, verbose_name=_("line"), on_delete=models.CASCADE, related_name="discounts")
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    promotion = models.ForeignKey(
        Promotion, verbose_name=_("promotion"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    label = models.CharField(_("label"), max_length=120)
    amount = models.DecimalField(_("amount"), **MONEY)

    class Meta:
        verbose_name = _("line discount")
        verbose_name_plural = _("line discounts")
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="line_discount_positive")]

    def __str__(self) -> str:
        return f"{self.label}: {self.amount}"


class Tender(models.TextChoices):
    CASH = "cash", _("Cash")
    CARD = "card", _("Card")
    LINE_PAY = "line_pay", _("LINE Pay")
    JKO_PAY = "jko_pay", _("JKO Pay")
    STORE_CREDIT = "store_credit", _("Store credit")
    EXCHANGE = "exchange", _("Exchange credit")
    MARKETPLACE = "marketplace", _("Marketplace")


class Payment(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        CAPTURED = "captured", _("Paid")
        FAILED = "failed", _("Failed")

    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.PROTECT, related_name="payments")
    tender = models.CharField(_("tender"), max_length=20, choices=Tender.choices)
    amount = models.DecimalField(_("amount"), **MONEY)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    provider_reference = models.CharField(_("provider reference"), max_length=100, blank=True)
    failure = models.CharField(_("failure"), max_length=200, blank=True)
    refunded_amount = models.DecimalField(_("refunded"), default=0, **MONEY)
    idempotency_key = models.CharField(_("idempotency key"), max_length=300, null=True, blank=True, unique=True)
    created_by = models.ForeignKey(
        USER, verbose_name=_("taken by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    captured_at = models.DateTimeField(_("paid at"), null=True, blank=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["order_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0, refunded_amount__lte=F("amount")), name="payment_refund_within"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tender} {self.amount}"


class OrderStatusChange(models.Model):
    """The order's history: every status change with who (a staff member or a channel) and when."""

    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.CASCADE, related_name="history")
    from_status = models.CharField(_("from"), max_length=20, blank=True)
    to_status = models.CharField(_("to"), max_length=20)
    by = models.ForeignKey(
        USER, verbose_name=_("by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    by_channel = models.ForeignKey(
        "org.SalesChannel",
        verbose_name=_("by channel"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    note = models.CharField(_("note"), max_length=200, blank=True)
    at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("order status change")
        verbose_name_plural = _("order status changes")
        ordering = ["order_id", "id"]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_status} -> {self.to_status}"


class Fulfilment(models.Model):
    """Goods leaving for the customer: a shipment from a warehouse or store, a pickup batch handed over
    at a store (several for one order: 分批取貨), or the counter hand-over of a POS sale."""

    class Kind(models.TextChoices):
        SHIPMENT = "shipment", _("Shipment")
        PICKUP = "pickup", _("Pickup batch")
        COUNTER = "counter", _("Counter")

    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.PROTECT, related_name="fulfilments")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    location = models.ForeignKey("org.Location", verbose_name=_("from"), on_delete=models.PROTECT, related_name="+")
    tracking = models.CharField(_("tracking number"), max_length=60, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=300, null=True, blank=True, unique=True)
    by = models.ForeignKey(
        USER, verbose_name=_("by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(_("at"), auto_now_add=True)
    units = models.PositiveIntegerField(
        _("units"), default=0, db_default=0, help_text=_("The sum of its lines' quantities.")
    )

    STORE_FIELD = "location"

    class Meta:
        verbose_name = _("fulfilment")
        verbose_name_plural = _("fulfilments")
        ordering = ["order_id", "id"]
        indexes = [models.Index(fields=["at"], name="fulfilment_at")]  # the dashboard's ship-from-store

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind} from {self.location_id}"


class FulfilmentLine(models.Model):
    fulfilment = models.ForeignKey(
        Fulfilment, verbose_name=_("fulfilment"), on_delete=models.CASCADE, related_name="lines"
    )
    line = models.ForeignKey(OrderLine, verbose_name=_("order line"), on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(_("quantity"))
    lots = models.JSONField(_("lots"), default=list, blank=True, help_text=_("[[lot code, quantity], ...]"))

    class Meta:
        verbose_name = _("fulfilment line")
        verbose_name_plural = _("fulfilment lines")
        constraints = [models.CheckConstraint(condition=Q(quantity__gte=1), name="fulfilment_line_positive")]

    def __str__(self) -> str:
        return f"{self.line_id} × {self.quantity}"


class OrderAllocation(models.Model):
    """Where an order's units come from (one row per line and location), held by reservations under
    the order number until they are fulfilled; a pickup order whose store lacked stock waits for the
    transfer that brings them."""

    line = models.ForeignKey(
        OrderLine, verbose_name=_("order line"), on_delete=models.CASCADE, related_name="allocations"
    )
    location = models.ForeignKey("org.Location", verbose_name=_("location"), on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(_("quantity"))
    fulfilled = models.PositiveIntegerField(_("fulfilled"), default=0)
    transfer = models.ForeignKey(
        "inventory.Transfer",
        verbose_name=_("brought by transfer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        verbose_name = _("order allocation")
        verbose_name_plural = _("order allocations")
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="order_allocation_positive"),
            models.CheckConstraint(condition=Q(fulfilled__lte=F("quantity")), name="order_allocation_fulfilled_within"),
        ]

    def __str__(self) -> str:
        return f"{self.line_id} × {self.quantity} @ {self.location_id}"


class Return(models.Model):
    """Goods a customer brought or sent back, through any channel (an online order returned in a store),
    with the refund to the original tenders or to store credit."""

    class RefundTo(models.TextChoices):
        ORIGINAL = "original", _("The original tenders")
        STORE_CREDIT = "store_credit", _("Store credit")
        EXCHANGE = "exchange", _("The exchange's new sale")

    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.PROTECT, related_name="returns")
    number = models.CharField(_("return number"), max_length=32, unique=True)
    channel = models.ForeignKey(
        "org.SalesChannel", verbose_name=_("through"), on_delete=models.PROTECT, related_name="+"
    )
    store = models.ForeignKey(
        "org.Location", verbose_name=_("at store"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    refund_to = models.CharField(_("refund to"), max_length=20, choices=RefundTo.choices, default=RefundTo.ORIGINAL)
    amount = models.DecimalField(_("refunded"), **MONEY)
    points_given_back = models.PositiveIntegerField(_("points given back"), default=0)
    points_taken_back = models.PositiveIntegerField(_("points taken back"), default=0)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=300, null=True, blank=True, unique=True)
    created_by = models.ForeignKey(
        USER, verbose_name=_("by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("at"), auto_now_add=True)

    STORE_FIELD = "store"

    class Meta:
        verbose_name = _("return")
        verbose_name_plural = _("returns")
        ordering = ["-id"]
        indexes = [models.Index(fields=["created_at"], name="return_created")]

    def __str__(self) -> str:
        return self.number


class ReturnLine(models.Model):
    class Disposition(models.TextChoices):
        RESTOCK = "restock", _("Back to stock")
        DAMAGED = "damaged", _("Written off as damaged")

    ret = models.ForeignKey(Return, verbose_name=_("return"), on_delete=models.CASCADE, related_name="lines")
    line = models.ForeignKey(OrderLine, verbose_name=_("order line"), on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(_("quantity"))
    amount = models.DecimalField(_("refunded"), **MONEY)
    disposition = models.CharField(_("goods"), max_length=10, choices=Disposition.choices)
    location = models.ForeignKey(
        "org.Location", verbose_name=_("restocked at"), on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("return line")
        verbose_name_plural = _("return lines")
        constraints = [models.CheckConstraint(condition=Q(quantity__gte=1), name="return_line_positive")]

    def __str__(self) -> str:
        return f"{self.line_id} × {self.quantity}"


class Refund(models.Model):
    """Money given back to one tender (or to store credit) for a return or a cancellation."""

    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.PROTECT, related_name="refunds")
    ret = models.ForeignKey(
        Return, verbose_name=_("return"), null=True, blank=True, on_delete=models.PROTECT, related_name="refunds"
    )
    payment = models.ForeignKey(
        Payment, verbose_name=_("payment"), null=True, blank=True, on_delete=models.PROTECT, related_name="refunds"
    )

    class Status(models.TextChoices):
        PENDING = "pending", _("To send to the gateway")
        DONE = "done", _("Refunded")
        FAILED = "failed", _("Gateway failed: retrying")

    tender = models.CharField(_("tender"), max_length=20, choices=Tender.choices)
    amount = models.DecimalField(_("amount"), **MONEY)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    provider_reference = models.CharField(_("provider reference"), max_length=100, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    created_by = models.ForeignKey(
        USER, verbose_name=_("by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-id"]
        indexes = [models.Index(fields=["created_at"], name="refund_created")]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="refund_positive")]

    def __str__(self) -> str:
        return f"{self.tender} {self.amount}"


class StoreCreditAccount(models.Model):
    """A member's store credit (money the brand owes them), the balance beside its ledger."""

    member = models.OneToOneField(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="store_credit"
    )
    balance = models.DecimalField(_("balance"), default=0, **MONEY)

    class Meta:
        verbose_name = _("store credit account")
        verbose_name_plural = _("store credit accounts")
        constraints = [models.CheckConstraint(condition=Q(balance__gte=0), name="store_credit_not_negative")]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.balance}"


class StoreCreditEntry(models.Model):
    """One change of store credit. Append-only: the balance equals the sum of the entries."""

    account = models.ForeignKey(
        StoreCreditAccount, verbose_name=_("account"), on_delete=models.PROTECT, related_name="entries"
    )
    amount = models.DecimalField(_("amount"), help_text=_("Positive in, negative out."), **MONEY)
    balance_after = models.DecimalField(_("balance after"), **MONEY)
    reference = models.CharField(_("reference"), max_length=64)
    by = models.ForeignKey(
        USER, verbose_name=_("by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("store credit entry")
        verbose_name_plural = _("store credit entries")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="store_credit_entry_not_zero"),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="store_credit_entry_balance_ok"),
        ]

    def __str__(self) -> str:
        return f"{self.amount:+}"


# --- orders coming in from marketplaces ---------------------------------------------------------------


class MarketplaceSettings(models.Model):
    """How a marketplace channel sends its orders in: the shared secret its order webhooks are signed
    with (``omo/events/signing.py``), and the secret it replaces, still accepted for a while after a
    rotation so the marketplace can switch without losing orders."""

    channel = models.OneToOneField(
        "org.SalesChannel",
        verbose_name=_("channel"),
        on_delete=models.PROTECT,
        related_name="marketplace_settings",
        limit_choices_to={"kind": "marketplace"},
    )
    secret = models.CharField(_("signing secret"), max_length=100)
    previous_secret = models.CharField(_("previous signing secret"), max_length=100, blank=True)
    previous_secret_until = models.DateTimeField(_("previous secret accepted until"), null=True, blank=True)
    rotated_at = models.DateTimeField(_("secret rotated at"), null=True, blank=True)
    rotated_by = models.ForeignKey(
        USER, verbose_name=_("secret rotated by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        USER, verbose_name=_("created by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("marketplace inbound settings")
        verbose_name_plural = _("marketplace inbound settings")
        ordering = ["channel"]

    def __str__(self) -> str:
        return str(self.channel)


class MarketplaceSku(models.Model):
    """A marketplace's own SKU for one of ours, where the marketplace does not use our SKU."""

    channel = models.ForeignKey(
        "org.SalesChannel",
        verbose_name=_("channel"),
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"kind": "marketplace"},
    )
    marketplace_sku = models.CharField(_("marketplace SKU"), max_length=64)
    variant = models.ForeignKey(
        "catalog.Variant", verbose_name=_("our variant (SKU)"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("marketplace SKU mapping")
        verbose_name_plural = _("marketplace SKU mappings")
        ordering = ["channel", "marketplace_sku"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "marketplace_sku"], name="marketplace_sku_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.marketplace_sku} -> {self.variant_id}"


class InboundOrder(models.Model):
    """An order a marketplace sent in, once per marketplace order id: the body as received, and either
    the order it became, or why it waits for HQ (unknown SKUs, no stock...) or why HQ turned it down."""

    class Status(models.TextChoices):
        PLACED = "placed", _("Order placed")
        REVIEW = "review", _("Waiting for review")
        REJECTED = "rejected", _("Rejected")

    channel = models.ForeignKey(
        "org.SalesChannel", verbose_name=_("channel"), on_delete=models.PROTECT, related_name="+"
    )
    marketplace_order_id = models.CharField(_("marketplace order id"), max_length=64)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, db_index=True)
    payload = models.JSONField(_("order as received"))
    fingerprint = models.CharField(
        _("fingerprint"),
        max_length=64,
        help_text=_("SHA-256 of the order as received, to tell a replay from a change."),
    )
    marketplace_placed_at = models.DateTimeField(_("placed on the marketplace at"))
    problems = models.JSONField(_("problems"), default=list, blank=True)
    order = models.OneToOneField(
        Order, verbose_name=_("order"), null=True, blank=True, on_delete=models.PROTECT, related_name="inbound"
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=1)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    last_attempt_at = models.DateTimeField(_("last attempt at"))
    last_attempt_by = models.ForeignKey(
        USER, verbose_name=_("last retried by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rejected_at = models.DateTimeField(_("rejected at"), null=True, blank=True)
    rejected_by = models.ForeignKey(
        USER, verbose_name=_("rejected by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reject_reason = models.CharField(_("reason for rejecting"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("inbound marketplace order")
        verbose_name_plural = _("inbound marketplace orders")
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "marketplace_order_id"], name="inbound_order_unique"),
            models.CheckConstraint(
                condition=Q(status__in=["placed", "review", "rejected"]), name="inbound_order_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="placed") | Q(order__isnull=False), name="inbound_placed_has_order"
            ),
            models.CheckConstraint(
                condition=~Q(status="rejected") | (Q(rejected_at__isnull=False) & ~Q(reject_reason="")),
                name="inbound_rejected_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.marketplace_order_id}"
