"""What the HQ dashboard keeps of its own: traffic counts (door counters, web and app sessions) and the
daily rollups a Celery job refreshes from orders, so a year of figures is read from a few thousand rows
instead of a million orders. A day that is not rolled up yet (today, or while the job was down) is
computed live from the orders by the same query (``omo.dashboard.rollups``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 16, "decimal_places": 2}


class TrafficCount(models.Model):
    """Visitors: a store's door counter for one hour, or a web/app channel's sessions for one day.
    Sent again for the same store and hour (or channel and day), the count is replaced, not added."""

    class Source(models.TextChoices):
        API = "api", _("API")
        CSV = "csv", _("CSV upload")
        ADMIN = "admin", _("Entered by hand")

    store = models.ForeignKey(
        "org.Location", verbose_name=_("store"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    channel = models.ForeignKey(
        "org.SalesChannel", verbose_name=_("channel"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    day = models.DateField(_("day"))
    hour = models.PositiveSmallIntegerField(_("hour"), null=True, blank=True, help_text=_("0-23; stores only."))
    visits = models.PositiveIntegerField(_("visitors"))
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    STORE_FIELD = "store"

    class Meta:
        verbose_name = _("traffic count")
        verbose_name_plural = _("traffic counts")
        ordering = ["-day", "store_id", "hour"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(store__isnull=False, channel__isnull=True, hour__isnull=False, hour__lte=23))
                | Q(store__isnull=True, channel__isnull=False, hour__isnull=True),
                name="traffic_store_hour_or_channel_day",
            ),
            models.UniqueConstraint(fields=["store", "day", "hour"], name="traffic_store_hour_once"),
            # NULLs are distinct: a store's rows never clash on the channel's key, nor the reverse
            models.UniqueConstraint(fields=["channel", "day"], name="traffic_channel_day_once"),
        ]
        indexes = [models.Index(fields=["day"], name="traffic_day")]

    def __str__(self) -> str:
        where = self.store or self.channel
        return f"{where} {self.day}" + (f" {self.hour:02d}:00" if self.hour is not None else "")


class RolledUpDay(models.Model):
    """A day whose rollup rows are complete; any other day is computed live."""

    day = models.DateField(_("day"), primary_key=True)
    refreshed_at = models.DateTimeField(_("refreshed at"))

    class Meta:
        verbose_name = _("rolled-up day")
        verbose_name_plural = _("rolled-up days")
        ordering = ["-day"]

    def __str__(self) -> str:
        return str(self.day)


class DayRow(models.Model):
    """A rollup row of one day by channel and store (store empty: shipped online orders, or a level
    above the stores)."""

    day = models.DateField(_("day"))
    channel = models.ForeignKey("org.SalesChannel", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    store = models.ForeignKey(
        "org.Location", null=True, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )

    STORE_FIELD = "store"

    class Meta:
        abstract = True


class SalesDay(DayRow):
    """Orders paid on a day, and refunds made on it, by channel and store (store empty: shipped online
    orders). Refunds count against the order's own channel and store."""

    orders = models.IntegerField(default=0)
    member_orders = models.IntegerField(default=0)
    units = models.IntegerField(default=0)
    sales = models.DecimalField(default=0, **MONEY)  # paid for the goods, tax included, without shipping
    discounts = models.DecimalField(default=0, **MONEY)
    cost = models.DecimalField(default=0, **MONEY)  # of the lines whose cost is known
    costed_sales = models.DecimalField(default=0, **MONEY)  # the sales of those lines
    returns = models.IntegerField(default=0)
    refunds = models.DecimalField(default=0, **MONEY)

    class Meta:
        verbose_name = _("sales day")
        verbose_name_plural = _("sales days")
        indexes = [models.Index(fields=["day", "store"], name="salesday_day_store")]

    def __str__(self) -> str:
        return f"{self.day} {self.channel_id}/{self.store_id}"


class ProductFigures(models.Model):
    """Units, sales and cost (None: no line had a known cost) of one variant, with its category."""

    variant = models.ForeignKey("catalog.Variant", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    category = models.ForeignKey(
        "catalog.Category", null=True, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    units = models.IntegerField(default=0)
    sales = models.DecimalField(default=0, **MONEY)
    cost = models.DecimalField(null=True, **MONEY)

    class Meta:
        abstract = True


class ProductDay(DayRow, ProductFigures):
    """Units and sales of one variant on a day, by channel and store."""

    class Meta:
        verbose_name = _("product sales day")
        verbose_name_plural = _("product sales days")
        indexes = [
            models.Index(fields=["day", "store"], name="productday_day_store"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.variant_id}"


class ProductMonth(ProductFigures):
    """``ProductDay`` of a whole month summed over the stores, by channel and variant: a year's top
    products for every store together read 12 x channels x variants rows, not a row per store and day.
    Rebuilt from ``ProductDay`` whenever a day of the month is; read only for months whose every day is
    rolled up."""

    month = models.DateField()  # the 1st
    channel = models.ForeignKey("org.SalesChannel", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)

    class Meta:
        verbose_name = _("product sales month")
        verbose_name_plural = _("product sales months")
        indexes = [models.Index(fields=["month"], name="productmonth_month")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.variant_id}"


class ClerkDay(DayRow):
    """Attribution lines of a day (sales credited on the day the order was paid, claw-backs on the day of
    the return or cancellation) summed by channel at five levels, so that each level keeps its own
    count of distinct orders (an order split between two clerks or stores counts once above them):
    per store and clerk, per store, in all, per store and binding source and rule, per source and rule.
    An order is paid on one day in one channel, so the counts add up across days and channels."""

    class Level(models.IntegerChoices):
        CLERK = 0, "store and clerk"
        STORE = 1, "store"
        ALL = 2, "all"
        SOURCE_STORE = 3, "store, binding source and rule"
        SOURCE = 4, "binding source and rule"

    level = models.PositiveSmallIntegerField(choices=Level.choices)
    clerk = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    source = models.CharField(max_length=20, null=True)  # NULL: no binding, or a level without sources
    rule = models.CharField(max_length=30, null=True)
    orders = models.IntegerField(default=0)  # distinct orders with sale lines at this level
    sales = models.DecimalField(default=0, **MONEY)  # sale lines' base
    clawed = models.DecimalField(default=0, **MONEY)  # claw-back lines' base (negative)
    commission = models.DecimalField(default=0, **MONEY)
    store_amount = models.DecimalField(default=0, **MONEY)
    personal_amount = models.DecimalField(default=0, **MONEY)

    class Meta:
        verbose_name = _("clerk attribution day")
        verbose_name_plural = _("clerk attribution days")
        indexes = [models.Index(fields=["day", "level"], name="clerkday_day_level")]

    def __str__(self) -> str:
        return f"{self.day} {self.get_level_display()} {self.store_id}/{self.clerk_id}"


class CoverSold(models.Model):
    """Units sold (sale movements) per location and SKU over the ``COVER_DAYS`` days up to ``as_of``,
    rebuilt by the nightly job for yesterday: days of cover up to today read it, add today's sales and
    take off the day that left the window, instead of a month of movements."""

    as_of = models.DateField()
    location = models.ForeignKey("org.Location", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    variant = models.ForeignKey("catalog.Variant", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    units = models.IntegerField()

    class Meta:
        verbose_name = _("units sold for days of cover")
        verbose_name_plural = _("units sold for days of cover")
        indexes = [models.Index(fields=["as_of", "location"], name="coversold_asof_location")]

    def __str__(self) -> str:
        return f"{self.as_of} {self.location_id}/{self.variant_id}: {self.units}"


class RollupMark(models.Model):
    """A named high-water mark of the rollup job: ``attribution-line`` is the last attribution line id
    the nightly job had seen, so a line written later for an earlier day (an order attributed late)
    makes that day be rolled up again."""

    name = models.CharField(max_length=40, primary_key=True)
    value = models.BigIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("rollup mark")
        verbose_name_plural = _("rollup marks")

    def __str__(self) -> str:
        return f"{self.name}: {self.value}"


class MemberSegmentMonth(models.Model):
    """Members who bought in a month by OMO segment (store only, online only, both), for every store
    (``store`` empty) and for each store's own members (registered there or bought there that month)."""

    month = models.DateField()  # the 1st
    store = models.ForeignKey(
        "org.Location", null=True, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    segment = models.CharField(max_length=12)
    members = models.IntegerField()
    purchases = models.IntegerField()
    spend = models.DecimalField(**MONEY)

    STORE_FIELD = "store"

    class Meta:
        verbose_name = _("member segment month")
        verbose_name_plural = _("member segment months")
        indexes = [models.Index(fields=["month", "store"], name="segmonth_month_store")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.store_id} {self.segment}"


class RolledUpMonth(models.Model):
    """A month whose ``MemberSegmentMonth`` rows are complete."""

    month = models.DateField(primary_key=True)
    refreshed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("rolled-up month")
        verbose_name_plural = _("rolled-up months")

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}"
