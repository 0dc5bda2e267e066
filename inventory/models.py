"""One stock pool: a stock level per SKU and location, changed only through the append-only movement
ledger (``StockMovement``); reservations, lots with expiry, moving-average cost, transfers, goods
receipts and stock counts.

ATP (available to promise) = on hand - reserved - safety stock. The database refuses negative stock
and reserving more than is on hand (check constraints), as a backstop behind the services.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

USER = settings.AUTH_USER_MODEL


class StockLevel(models.Model):
    variant = models.ForeignKey(
        "catalog.Variant", verbose_name=_("variant"), on_delete=models.PROTECT, related_name="stock_levels"
    )
    location = models.ForeignKey(
        "org.Location", verbose_name=_("location"), on_delete=models.PROTECT, related_name="stock_levels"
    )
    on_hand = models.IntegerField(_("on hand"), default=0)
    reserved = models.IntegerField(_("reserved"), default=0)
    safety_stock = models.IntegerField(_("safety stock"), default=0)
    min_level = models.IntegerField(
        _("minimum level"), null=True, blank=True, help_text=_("Below this a replenishment transfer is suggested.")
    )
    max_level = models.IntegerField(
        _("maximum level"), null=True, blank=True, help_text=_("A suggested replenishment fills up to this level.")
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    STORE_FIELD = "location"

    class Meta:
        verbose_name = _("stock level")
        verbose_name_plural = _("stock levels")
        ordering = ["location__code", "variant__sku"]
        constraints = [
            models.UniqueConstraint(fields=["variant", "location"], name="stock_level_unique"),
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="stock_on_hand_not_negative"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="stock_reserved_not_negative"),
            models.CheckConstraint(condition=Q(safety_stock__gte=0), name="stock_safety_not_negative"),
            models.CheckConstraint(condition=Q(reserved__lte=F("on_hand")), name="stock_reserved_within_on_hand"),
            models.CheckConstraint(
                condition=Q(min_level__isnull=True) | Q(max_level__isnull=True) | Q(max_level__gte=F("min_level")),
                name="stock_min_max_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.variant_id}@{self.location_id}: {self.on_hand}"

    @property
    def atp(self) -> int:
        return max(self.on_hand - self.reserved - self.safety_stock, 0)


class MovementKind(models.TextChoices):
    RECEIPT = "receipt", _("Goods receipt")
    SALE = "sale", _("Sale")
    RETURN = "return", _("Return")
    TRANSFER_OUT = "transfer_out", _("Transfer out")
    TRANSFER_IN = "transfer_in", _("Transfer in")
    ADJUSTMENT = "adjustment", _("Adjustment")
    COUNT = "count", _("Stock count")
    EXPIRY_WRITE_OFF = "expiry_write_off", _("Expiry write-off")


INBOUND_KINDS = (MovementKind.RECEIPT, MovementKind.RETURN, MovementKind.TRANSFER_IN)
OUTBOUND_KINDS = (MovementKind.SALE, MovementKind.TRANSFER_OUT, MovementKind.EXPIRY_WRITE_OFF)


class StockMovement(models.Model):
    """One change of on-hand stock. Append-only: never updated or deleted (PostgreSQL refuses it with a
    trigger); on hand always equals the sum of the movements of its SKU and location."""

    variant = models.ForeignKey(
        "catalog.Variant", verbose_name=_("variant"), on_delete=models.PROTECT, related_name="+"
    )
    location = models.ForeignKey("org.Location", verbose_name=_("location"), on_delete=models.PROTECT, related_name="+")
    lot = models.ForeignKey(
        "Lot", verbose_name=_("lot"), null=True, blank=True, on_delete=models.PROTECT, related_name="movements"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=MovementKind.choices)
    quantity = models.IntegerField(_("quantity"), help_text=_("Positive in, negative out."))
    on_hand_after = models.IntegerField(_("on hand after"))
    unit_cost = models.DecimalField(_("unit cost"), max_digits=12, decimal_places=4, null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    reference_type = models.CharField(_("document type"), max_length=30, blank=True)
    reference_id = models.CharField(_("document"), max_length=64, blank=True)
    created_by = models.ForeignKey(
        USER, verbose_name=_("by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)

    STORE_FIELD = "location"

    class Meta:
        verbose_name = _("stock movement")
        verbose_name_plural = _("stock movements")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["variant", "location", "id"], name="movement_sku_location"),
            models.Index(fields=["reference_type", "reference_id"], name="movement_reference"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(quantity=0), name="movement_quantity_not_zero"),
            models.CheckConstraint(condition=Q(on_hand_after__gte=0), name="movement_on_hand_after_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.quantity:+d}"


class Lot(models.Model):
    """A batch of a perishable SKU with its expiry date; sold and moved first-to-expire first."""

    variant = models.ForeignKey(
        "catalog.Variant", verbose_name=_("variant"), on_delete=models.PROTECT, related_name="lots"
    )
    code = models.CharField(_("lot code"), max_length=40)
    expiry_date = models.DateField(_("expiry date"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("lot")
        verbose_name_plural = _("lots")
        ordering = ["expiry_date", "id"]
        constraints = [models.UniqueConstraint(fields=["variant", "code"], name="lot_code_unique_per_variant")]

    def __str__(self) -> str:
        return f"{self.code} ({self.expiry_date})"


class LotStock(models.Model):
    """How much of a lot is at a location. For a lot-tracked SKU these add up to the stock level."""

    lot = models.ForeignKey(Lot, verbose_name=_("lot"), on_delete=models.PROTECT, related_name="stocks")
    location = models.ForeignKey("org.Location", verbose_name=_("location"), on_delete=models.PROTECT, related_name="+")
    on_hand = models.IntegerField(_("on hand"), default=0)

    STORE_FIELD = "location"

    class Meta:
        verbose_name = _("lot stock")
        verbose_name_plural = _("lot stock")
        constraints = [
            models.UniqueConstraint(fields=["lot", "location"], name="lot_stock_unique"),
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="lot_stock_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.lot} @ {self.location_id}: {self.on_hand}"


class SkuCost(models.Model):
    """The moving-average unit cost of a SKU over the whole pool, updated on each goods receipt."""

    variant = models.OneToOneField(
        "catalog.Variant", verbose_name=_("variant"), on_delete=models.PROTECT, related_name="cost"
    )
    average_cost = models.DecimalField(_("moving-average cost"), max_digits=12, decimal_places=4)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("SKU cost")
        verbose_name_plural = _("SKU costs")
        constraints = [models.CheckConstraint(condition=Q(average_cost__gte=0), name="sku_cost_not_negative")]

    def __str__(self) -> str:
        return f"{self.variant_id}: {self.average_cost}"


class Reservation(models.Model):
    """Stock held for a cart or an online order at one location until it is consumed, released or expires."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        CONSUMED = "consumed", _("Consumed")
        RELEASED = "released", _("Released")
        EXPIRED = "expired", _("Expired")
        SHORT = "short", _("Closed: its stock expired")

    variant = models.ForeignKey(
        "catalog.Variant", verbose_name=_("variant"), on_delete=models.PROTECT, related_name="+"
    )
    location = models.ForeignKey("org.Location", verbose_name=_("location"), on_delete=models.PROTECT, related_name="+")
    quantity = models.IntegerField(_("quantity"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    reference = models.CharField(_("reference"), max_length=64, help_text=_("The cart or order, e.g. order:1042."))
    channel = models.ForeignKey(
        "org.SalesChannel", verbose_name=_("channel"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    created_by = models.ForeignKey(
        USER, verbose_name=_("by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    STORE_FIELD = "location"

    class Meta:
        verbose_name = _("reservation")
        verbose_name_plural = _("reservations")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["expires_at"], condition=Q(status="active"), name="reservation_active_expiry"),
            models.Index(fields=["reference"], name="reservation_reference"),
        ]
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="reservation_quantity_positive")]

    def __str__(self) -> str:
        return f"{self.reference}: {self.quantity} of {self.variant_id}@{self.location_id} ({self.status})"


class ChannelLocation(models.Model):
    """Which locations serve a channel: ship its delivery orders (in priority order) and offer pickup."""

    channel = models.ForeignKey(
        "org.SalesChannel", verbose_name=_("channel"), on_delete=models.CASCADE, related_name="fulfilment_locations"
    )
    location = models.ForeignKey("org.Location", verbose_name=_("location"), on_delete=models.CASCADE, related_name="+")
    priority = models.PositiveIntegerField(_("priority"), default=100, help_text=_("Lower ships first."))
    ships = models.BooleanField(_("ships delivery orders"), default=True)
    offers_pickup = models.BooleanField(_("offers pickup"), default=False)

    class Meta:
        verbose_name = _("channel fulfilment location")
        verbose_name_plural = _("channel fulfilment locations")
        ordering = ["channel", "priority", "location__code"]
        constraints = [models.UniqueConstraint(fields=["channel", "location"], name="channel_location_unique")]

    def __str__(self) -> str:
        return f"{self.channel_id} -> {self.location_id} ({self.priority})"


class AllocationStrategyChoice(models.TextChoices):
    WAREHOUSE_FIRST = "warehouse_first", _("Warehouses first, then stores by priority; split when needed")
    FEWEST_SHIPMENTS = "fewest_shipments", _("One location for the whole order when possible, else split")


class ChannelAllocation(models.Model):
    channel = models.OneToOneField(
        "org.SalesChannel", verbose_name=_("channel"), on_delete=models.CASCADE, related_name="allocation"
    )
    strategy = models.CharField(
        _("strategy"),
        max_length=30,
        choices=AllocationStrategyChoice.choices,
        default=AllocationStrategyChoice.WAREHOUSE_FIRST,
    )

    class Meta:
        verbose_name = _("channel allocation strategy")
        verbose_name_plural = _("channel allocation strategies")

    def __str__(self) -> str:
        return f"{self.channel_id}: {self.strategy}"


class Transfer(models.Model):
    """A move of stock between two locations (調撥): requested, approved, shipped (in transit), received."""

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        APPROVED = "approved", _("Approved")
        SHIPPED = "shipped", _("In transit")
        RECEIVED = "received", _("Received")
        CANCELLED = "cancelled", _("Cancelled")

    class Kind(models.TextChoices):
        MANUAL = "manual", _("HQ transfer")
        REPLENISHMENT = "replenishment", _("Store replenishment request")
        SUGGESTED = "suggested", _("Suggested by min/max levels")
        CUSTOMER_ORDER = "customer_order", _("For a customer order")

    origin = models.ForeignKey("org.Location", verbose_name=_("from"), on_delete=models.PROTECT, related_name="+")
    destination = models.ForeignKey("org.Location", verbose_name=_("to"), on_delete=models.PROTECT, related_name="+")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.REQUESTED)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.MANUAL)
    note = models.CharField(_("note"), max_length=300, blank=True)
    reservation_reference = models.CharField(
        _("carries the reservation"),
        max_length=64,
        blank=True,
        db_index=True,
        help_text=_("For a customer order: the reservation at the origin that shipping this transfer takes."),
    )
    requested_by = models.ForeignKey(
        USER, verbose_name=_("requested by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    approved_by = models.ForeignKey(
        USER, verbose_name=_("approved by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    shipped_by = models.ForeignKey(
        USER, verbose_name=_("shipped by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    shipped_at = models.DateTimeField(_("shipped at"), null=True, blank=True)
    received_by = models.ForeignKey(
        USER, verbose_name=_("received by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    received_at = models.DateTimeField(_("received at"), null=True, blank=True)
    cancelled_by = models.ForeignKey(
        USER, verbose_name=_("cancelled by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)

    STORE_FIELD = ("origin", "destination")

    class Meta:
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")
        ordering = ["-id"]
        permissions = [("approve_transfer", _("Can approve transfers"))]
        constraints = [
            models.CheckConstraint(condition=~Q(origin=F("destination")), name="transfer_between_two_locations"),
        ]

    def __str__(self) -> str:
        return f"TR-{self.pk:06d}" if self.pk else "TR-new"


class TransferLine(models.Model):
    transfer = models.ForeignKey(Transfer, verbose_name=_("transfer"), on_delete=models.CASCADE, related_name="lines")
    variant = models.ForeignKey(
        "catalog.Variant", verbose_name=_("variant"), on_delete=models.PROTECT, related_name="+"
    )
    quantity_requested = models.IntegerField(_("requested"))
    quantity_shipped = models.IntegerField(_("shipped"), default=0)
    quantity_received = models.IntegerField(_("received"), default=0)
    discrepancy_note = models.CharField(_("discrepancy note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("transfer line")
        verbose_name_plural = _("transfer lines")
        ordering = ["transfer", "id"]
        constraints = [
            models.UniqueConstraint(fields=["transfer", "variant"], name="transfer_line_unique"),
            models.CheckConstraint(condition=Q(quantity_requested__gt=0), name="transfer_requested_positive"),
            models.CheckConstraint(condition=Q(quantity_shipped__gte=0), name="transfer_shipped_not_negative"),
            models.CheckConstraint(condition=Q(quantity_received__gte=0), name="transfer_received_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.variant_id} x{self.quantity_requested}"


class TransferLineLot(models.Model):
    """Which lots travel on a transfer line (first to expire first at the origin)."""

    line = models.ForeignKey(TransferLine, on_delete=models.CASCADE, related_name="lots")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="+")
    quantity = models.IntegerField()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="transfer_lot_quantity_positive")]

    def __str__(self) -> str:
        return f"{self.lot_id} x{self.quantity}"


class PostedDocument(models.Model):
    """Who made a document and who posted it (put its stock changes into the ledger), and when."""

    created_by = models.ForeignKey(
        USER, verbose_name=_("created by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    posted_by = models.ForeignKey(
        USER, verbose_name=_("posted by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    posted_at = models.DateTimeField(_("posted at"), null=True, blank=True)

    class Meta:
        abstract = True


class GoodsReceipt(PostedDocument):
    """Goods arriving from a supplier at a location, with cost and (for perishables) lot and expiry."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        POSTED = "posted", _("Posted")

    location = models.ForeignKey("org.Location", verbose_name=_("location"), on_delete=models.PROTECT, related_name="+")
    supplier = models.CharField(_("supplier"), max_length=200)
    supplier_reference = models.CharField(_("supplier document"), max_length=64, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)

    STORE_FIELD = "location"

    class Meta:
        verbose_name = _("goods receipt")
        verbose_name_plural = _("goods receipts")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"GR-{self.pk:06d}" if self.pk else "GR-new"


class GoodsReceiptLine(models.Model):
    receipt = models.ForeignKey(
        GoodsReceipt, verbose_name=_("goods receipt"), on_delete=models.CASCADE, related_name="lines"
    )
    variant = models.ForeignKey(
        "catalog.Variant", verbose_name=_("variant"), on_delete=models.PROTECT, related_name="+"
    )
    quantity = models.IntegerField(_("quantity"))
    unit_cost = models.DecimalField(_("unit cost"), max_digits=12, decimal_places=4)
    lot_code = models.CharField(_("lot code"), max_length=40, blank=True)
    expiry_date = models.DateField(_("expiry date"), null=True, blank=True)

    class Meta:
        verbose_name = _("goods receipt line")
        verbose_name_plural = _("goods receipt lines")
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="receipt_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_cost__gte=0), name="receipt_cost_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.variant_id} x{self.quantity}"


class StockCount(PostedDocument):
    """A stock count (盤點) of one location: count, review the variances, post them as adjustments."""

    class Status(models.TextChoices):
        COUNTING = "counting", _("Counting")
        POSTED = "posted", _("Posted")
        CANCELLED = "cancelled", _("Cancelled")

    location = models.ForeignKey("org.Location", verbose_name=_("location"), on_delete=models.PROTECT, related_name="+")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.COUNTING)
    note = models.CharField(_("note"), max_length=300, blank=True)

    STORE_FIELD = "location"

    class Meta:
        verbose_name = _("stock count")
        verbose_name_plural = _("stock counts")
        ordering = ["-id"]
        permissions = [("post_stockcount", _("Can post stock counts"))]

    def __str__(self) -> str:
        return f"SC-{self.pk:06d}" if self.pk else "SC-new"


class StockCountLine(models.Model):
    """``expected`` is on hand when the line was added; posting adjusts by ``counted - expected`` so
    sales made while counting are kept."""

    count = models.ForeignKey(StockCount, verbose_name=_("stock count"), on_delete=models.CASCADE, related_name="lines")
    variant = models.ForeignKey(
        "catalog.Variant", verbose_name=_("variant"), on_delete=models.PROTECT, related_name="+"
    )
    lot = models.ForeignKey(
        Lot, verbose_name=_("lot"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    expected = models.IntegerField(_("expected"))
    counted = models.IntegerField(_("counted"), null=True, blank=True)

    class Meta:
        verbose_name = _("stock count line")
        verbose_name_plural = _("stock count lines")
        constraints = [
            models.UniqueConstraint(
                fields=["count", "variant"], condition=Q(lot__isnull=True), name="count_line_unique_without_lot"
            ),
            models.UniqueConstraint(
                fields=["count", "variant", "lot"], condition=Q(lot__isnull=False), name="count_line_unique_per_lot"
            ),
            models.CheckConstraint(condition=Q(counted__isnull=True) | Q(counted__gte=0), name="count_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.variant_id}: {self.expected} -> {self.counted}"

    @property
    def variance(self) -> int | None:
        return None if self.counted is None else self.counted - self.expected


# --- channel stock feeds -----------------------------------------------------------------------------


class ChannelStockFeed(models.Model):
    """Whether a sales channel is sent its sellable quantity per SKU, and how much is held back.

    Sellable = the ATP of the channel's locations (``ChannelLocation``) added up, less the buffer
    (a SKU's own buffer where it has one), never below 0. A channel without a feed row gets no feed.
    """

    channel = models.OneToOneField(
        "org.SalesChannel", verbose_name=_("channel"), on_delete=models.CASCADE, related_name="stock_feed"
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    buffer = models.PositiveIntegerField(
        _("buffer"),
        default=0,
        help_text=_("Units of each SKU held back from this channel (a guard against overselling)."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("channel stock feed")
        verbose_name_plural = _("channel stock feeds")
        ordering = ["channel__code"]

    def __str__(self) -> str:
        return f"{self.channel_id}: -{self.buffer}"


class ChannelStockBuffer(models.Model):
    """A SKU's own buffer on one channel's feed, in place of the feed's buffer."""

    feed = models.ForeignKey(
        ChannelStockFeed, verbose_name=_("channel stock feed"), on_delete=models.CASCADE, related_name="sku_buffers"
    )
    variant = models.ForeignKey(
        "catalog.Variant", verbose_name=_("variant"), on_delete=models.CASCADE, related_name="+"
    )
    buffer = models.PositiveIntegerField(_("buffer"))

    class Meta:
        verbose_name = _("SKU buffer")
        verbose_name_plural = _("SKU buffers")
        constraints = [models.UniqueConstraint(fields=["feed", "variant"], name="channel_stock_buffer_unique")]

    def __str__(self) -> str:
        return f"{self.variant_id}: -{self.buffer}"


class StockFeedDirty(models.Model):
    """A SKU whose stock changed and whose channel quantities are to be worked out again at ``due_at``:
    one row per SKU however many sales come in before then (the outbox consumer inserts it, the flush
    task claims and deletes it)."""

    variant = models.OneToOneField(
        "catalog.Variant",
        verbose_name=_("variant"),
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    due_at = models.DateTimeField(_("due at"))

    class Meta:
        verbose_name = _("SKU waiting for its channel stock update")
        verbose_name_plural = _("SKUs waiting for their channel stock update")
        indexes = [models.Index(fields=["due_at"], name="stock_feed_dirty_due")]

    def __str__(self) -> str:
        return f"{self.variant_id} @ {self.due_at}"


class ChannelStockPublished(models.Model):
    """The sellable quantity a channel was last told for a SKU (by a ``channel.stock_changed`` event)."""

    channel = models.ForeignKey(
        "org.SalesChannel", verbose_name=_("channel"), on_delete=models.CASCADE, related_name="+"
    )
    variant = models.ForeignKey(
        "catalog.Variant", verbose_name=_("variant"), on_delete=models.CASCADE, related_name="+"
    )
    quantity = models.PositiveIntegerField(_("quantity"))
    published_at = models.DateTimeField(_("published at"))

    class Meta:
        verbose_name = _("published channel stock")
        verbose_name_plural = _("published channel stock")
        ordering = ["channel", "variant"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "variant"], name="channel_stock_published_unique"),
        ]
        indexes = [models.Index(fields=["channel", "published_at", "id"], name="channel_stock_updated")]

    def __str__(self) -> str:
        return f"{self.channel_id}/{self.variant_id}: {self.quantity}"


class StockFeedReconciliation(models.Model):
    """A nightly check of every published channel quantity against the stock, and what it corrected."""

    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    channels = models.JSONField(_("channels"), default=list)
    skus_checked = models.PositiveIntegerField(_("SKUs checked"), default=0)
    drift_count = models.PositiveIntegerField(_("drifts corrected"), default=0)
    drifts = models.JSONField(
        _("drifts"),
        default=list,
        blank=True,
        help_text=_("The first corrections: channel, SKU, what was published and what it should have been."),
    )

    class Meta:
        verbose_name = _("stock feed reconciliation")
        verbose_name_plural = _("stock feed reconciliations")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M}: {self.drift_count}"
