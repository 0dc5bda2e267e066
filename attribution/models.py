"""Clerk referral attribution (推薦人機制): who served a member (bindings), which paid orders count for
whom (attribution lines), under which rules (versioned policies), and the monthly settlement.

The five parts of the mechanism, and where each lives:

1. member attribution (會員歸屬): ``Binding``, one row per event that links a member to a clerk and a
   store; never edited, only ended (by HQ) or left to run out;
2. service events (服務事件): every paid order is attributed once (``OrderAttribution``) into
   ``AttributionLine`` rows, one per credited (clerk, store), each with its order lines' parts;
3. validity (服務效期): the ``Policy`` in force when the order was paid says how long each kind of
   binding counts, what happens when several do, and how the rate falls with a binding's age;
4. settlement items (結算項目): the policy's excluded categories and channels and its rates;
5. settlement method (結算方式): the policy's store / personal split, and ``SettlementPeriod`` with its
   ``SettlementLine`` and ``SettlementAdjustment`` rows; returns claw back through negative lines.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 14, "decimal_places": 2}
RATE = {"max_digits": 7, "decimal_places": 4}
USER = settings.AUTH_USER_MODEL


class Source(models.TextChoices):
    POS_SALE = "pos_sale", _("POS sale or service by the clerk")
    QR_REGISTRATION = "qr_registration", _("Registered in store with the clerk's QR code")
    REFERRAL_LINK = "referral_link", _("The clerk's referral code or link used online")
    LINE_CHAT = "line_chat", _("Recorded LINE / chat conversation")
    HQ_MANUAL = "hq_manual", _("Assigned by HQ")


class Policy(models.Model):
    """One version of the commission policy. Editing makes a new version (a draft); HQ adopts a draft
    from a moment on, and every paid order is attributed under the version in force when it was paid.
    A draft can be simulated on a past period before it is adopted; an adopted version never changes."""

    class Conflict(models.TextChoices):
        LATEST = "latest", _("The latest binding wins")
        FIRST = "first", _("The first binding wins")
        SPLIT = "split", _("Split between the active bindings")

    class Departed(models.TextChoices):
        STORE = "store", _("The store is credited, nobody personally")
        NOBODY = "nobody", _("Nobody is credited")

    version = models.PositiveIntegerField(_("version"), unique=True)
    name = models.CharField(_("name"), max_length=100)
    effective_from = models.DateTimeField(_("in force from"), null=True, blank=True, db_index=True)
    # part 3: validity windows (days) by binding source; a source missing here does not bind
    validity_days = models.JSONField(_("validity by source (days)"), default=dict)
    conflict = models.CharField(_("when several bindings are active"), max_length=10, choices=Conflict.choices)
    rebind_wait_days = models.PositiveIntegerField(
        _("waiting period before another clerk can take the member (days)"), default=0
    )
    # [[from_day, factor], ...]: the rate times the factor of the last step the binding's age reached
    age_factors = models.JSONField(_("rate factor by binding age"), default=list)
    # part 4: settlement items
    default_rate = models.DecimalField(_("default rate"), **RATE)
    category_rates = models.JSONField(_("rates by category path"), default=dict)
    channel_rates = models.JSONField(_("rates by channel code"), default=dict)
    excluded_categories = models.JSONField(_("excluded category paths"), default=list)
    excluded_channels = models.JSONField(_("excluded channel codes"), default=list)
    # part 5: settlement method
    store_share = models.DecimalField(
        _("store share of each amount (0-1)"), max_digits=5, decimal_places=4, help_text=_("The rest is personal.")
    )
    departed_clerk = models.CharField(
        _("a clerk who left"), max_length=10, choices=Departed.choices, default=Departed.STORE
    )
    lockup_days = models.PositiveIntegerField(_("days before an order enters settlement (return window)"), default=7)
    note = models.CharField(_("what changed"), max_length=300, blank=True)
    created_by = models.ForeignKey(USER, verbose_name=_("by"), null=True, blank=True, on_delete=models.PROTECT)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    adopted_by = models.ForeignKey(
        USER, verbose_name=_("adopted by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("commission policy")
        verbose_name_plural = _("commission policies")
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"v{self.version} {self.name}"

    @property
    def is_draft(self) -> bool:
        return self.effective_from is None


class Binding(models.Model):
    """A recorded link member -> clerk and store (會員歸屬), from one event. It starts at the event and
    counts for as long as the policy in force at a later order says for its source, unless HQ ended it.
    A binding that came inside another clerk's waiting period is kept, marked as not counting."""

    member = models.ForeignKey("members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="+")
    clerk = models.ForeignKey(
        USER, verbose_name=_("clerk"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    store = models.ForeignKey("org.Location", verbose_name=_("store"), on_delete=models.PROTECT, related_name="+")
    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    started_at = models.DateTimeField(_("from"), db_index=True)
    ended_at = models.DateTimeField(_("ended by HQ at"), null=True, blank=True)
    counts = models.BooleanField(_("counts"), default=True)
    blocked_by = models.ForeignKey(
        "self",
        verbose_name=_("inside the waiting period of"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    reference = models.CharField(_("reference"), max_length=40, blank=True, help_text=_("Order number, code used"))
    note = models.CharField(_("note or reason"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        USER, verbose_name=_("recorded by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    STORE_FIELD = "store"

    class Meta:
        verbose_name = _("binding")
        verbose_name_plural = _("bindings")
        ordering = ["member", "started_at", "id"]
        indexes = [models.Index(fields=["member", "started_at"], name="binding_member_start")]
        constraints = [
            # one binding per event: a retried event (the same order paid twice over) records nothing new
            models.UniqueConstraint(
                fields=["member", "source", "reference", "clerk"],
                condition=~Q(reference=""),
                name="binding_once_per_event",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                name="binding_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} -> {self.clerk_id or '-'} @ {self.store_id} ({self.source})"


class OrderAttribution(models.Model):
    """That a paid order was attributed (once), under which policy version and rule."""

    # keyed by the order (one index for a month's hundreds of thousands of rows); the policy comes from
    # the statement that writes the row and is kept for good
    order = models.OneToOneField(
        "orders.Order",
        verbose_name=_("order"),
        on_delete=models.PROTECT,
        related_name="attribution",
        primary_key=True,
        db_constraint=False,  # orders are never deleted (a trigger refuses it once attributed): see AttributionLine
    )
    policy = models.ForeignKey(
        Policy,
        verbose_name=_("policy"),
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    rule = models.CharField(_("rule"), max_length=30)
    explanation = models.CharField(_("explanation"), max_length=500)
    attributed_at = models.DateTimeField(_("attributed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("order attribution")
        verbose_name_plural = _("order attributions")

    def __str__(self) -> str:
        return f"{self.order_id}: {self.rule}"


class SettlementPeriod(models.Model):
    """A month of commission: built as a draft from the attribution lines, reviewed and adjusted by HQ
    finance, approved (then locked: nothing in it changes again) and paid."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        APPROVED = "approved", _("Approved (locked)")
        PAID = "paid", _("Paid")

    month = models.DateField(_("month"), unique=True, help_text=_("The first day of the month"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    built_at = models.DateTimeField(_("draft built at"), null=True, blank=True)
    fingerprint = models.CharField(_("draft fingerprint"), max_length=64, blank=True)
    inputs = models.CharField(
        _("what the draft was built from"),
        max_length=100,
        blank=True,
        help_text=_("The newest line and adjustment and the last approval it saw: unchanged, nothing is rebuilt."),
    )
    approved_by = models.ForeignKey(
        USER, verbose_name=_("approved by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    paid_by = models.ForeignKey(
        USER, verbose_name=_("paid by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)

    class Meta:
        verbose_name = _("settlement period")
        verbose_name_plural = _("settlement periods")
        ordering = ["-month"]

    def __str__(self) -> str:
        return self.month.strftime("%Y-%m")


def _unchecked(to, verbose_name, *, null: bool = False, related_name: str = "+", db_index: bool = False):
    """A reference of an attribution line with neither an index nor a database foreign key (see
    ``AttributionLine``): protected from deletion by Django, and written only from joined rows."""
    return models.ForeignKey(
        to,
        verbose_name=verbose_name,
        null=null,
        blank=null,
        on_delete=models.PROTECT,
        related_name=related_name,
        db_index=db_index,
        db_constraint=False,
    )


class LineItem(NamedTuple):
    """One order line's part of an ``AttributionLine``."""

    line_id: int
    base: Decimal
    rate: Decimal
    commission: Decimal


class AttributionLine(models.Model):
    """What one order credited to one (clerk, store), or what a return or cancellation took back from
    them: the totals of the order lines it covers, and in ``lines`` each of those lines' part (see
    ``items``). Written once; a settled line is never edited (a later return makes a negative line in
    the next open period).

    One row per order and credit, not per order line: a month is a million order lines but about a
    quarter of that in rows, and every row costs its indexes (bench/attribution.py).

    Written by one set-based statement, so the table carries no foreign key checks: every reference
    comes from the rows the statement joins, and nothing it points at is ever deleted. For the order
    and its lines a trigger (migration 0005) refuses deleting an attributed order or one of its lines,
    so a line never points at nothing; a (clerk, store) that did not exist would be refused when the
    month's settlement lines, which have foreign keys, are written. A foreign key check costs a lookup
    and a row lock on the order for every row written."""

    class Kind(models.TextChoices):
        SALE = "sale", _("Sale")
        CLAWBACK = "clawback", _("Return taken back")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    order = _unchecked("orders.Order", _("order"), db_index=True)
    ret = _unchecked("orders.Return", _("return"), null=True)
    reverses = _unchecked("self", _("takes back"), null=True)
    clerk = _unchecked(USER, _("clerk"), null=True)
    store = _unchecked("org.Location", _("store"))
    binding = _unchecked(Binding, _("binding"), null=True)
    policy = _unchecked(Policy, _("policy"))
    rule = models.CharField(_("rule"), max_length=30)
    share = models.DecimalField(_("share"), max_digits=5, decimal_places=4)
    base = models.DecimalField(_("attributed amount"), **MONEY)
    rate = models.DecimalField(_("rate"), null=True, blank=True, help_text=_("Empty when its lines differ"), **RATE)
    factor = models.DecimalField(_("age factor"), max_digits=5, decimal_places=4)
    commission = models.DecimalField(_("commission"), **MONEY)
    store_amount = models.DecimalField(_("store performance"), **MONEY)
    personal_amount = models.DecimalField(_("personal performance"), **MONEY)
    occurred_at = models.DateTimeField(_("paid or returned at"))
    eligible_on = models.DateField(_("enters settlement on"))
    period = _unchecked(SettlementPeriod, _("settled in"), null=True, related_name="lines")
    # [[order line id, base, rate, commission], ...] (amounts as decimal strings): read through ``items``
    lines = models.JSONField(_("order lines"), default=list)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    STORE_FIELD = "store"

    class Meta:
        verbose_name = _("attribution line")
        verbose_name_plural = _("attribution lines")
        ordering = ["occurred_at", "id"]
        # few indexes on purpose: a month writes a million lines, and each index is paid on every one
        indexes = [
            models.Index(fields=["period", "eligible_on"], name="attrline_period_eligible"),
            models.Index(fields=["clerk", "occurred_at"], name="attrline_clerk_time"),
            # by time for every store (the HQ dashboard); a store's lines are a fiftieth of those
            models.Index(fields=["occurred_at"], name="attrline_time"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["ret", "reverses"], condition=Q(ret__isnull=False), name="attrline_clawback_once"
            ),
            # a cancelled order's lines are taken back once
            models.UniqueConstraint(
                fields=["reverses"], condition=Q(ret__isnull=True, kind="clawback"), name="attrline_cancel_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.order_id} -> {self.clerk_id or '-'}@{self.store_id}: {self.commission}"

    @property
    def items(self) -> list[LineItem]:
        """Each order line's part of this row, as decimals: they add up to its base and commission."""
        return [LineItem(int(i), Decimal(str(b)), Decimal(str(r)), Decimal(str(c))) for i, b, r, c in self.lines]


class SettlementLine(models.Model):
    """A (clerk, store) total of a period: built from the attribution lines, plus HQ's adjustments."""

    period = models.ForeignKey(
        SettlementPeriod, verbose_name=_("period"), on_delete=models.CASCADE, related_name="totals"
    )
    clerk = models.ForeignKey(
        USER, verbose_name=_("clerk"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    store = models.ForeignKey("org.Location", verbose_name=_("store"), on_delete=models.PROTECT, related_name="+")
    lines = models.PositiveIntegerField(_("lines"))
    base = models.DecimalField(_("attributed sales"), **MONEY)
    commission = models.DecimalField(_("commission"), **MONEY)
    store_amount = models.DecimalField(_("store performance"), **MONEY)
    personal_amount = models.DecimalField(_("personal performance"), **MONEY)
    adjustments = models.DecimalField(_("adjustments"), default=0, **MONEY)
    payable = models.DecimalField(_("payable"), **MONEY)

    STORE_FIELD = "store"

    class Meta:
        verbose_name = _("settlement line")
        verbose_name_plural = _("settlement lines")
        ordering = ["store", "clerk"]
        constraints = [
            models.UniqueConstraint(
                fields=["period", "store", "clerk"], condition=Q(clerk__isnull=False), name="settlement_line_once"
            ),
            models.UniqueConstraint(
                fields=["period", "store"], condition=Q(clerk__isnull=True), name="settlement_store_line_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period_id} {self.store_id}/{self.clerk_id}: {self.payable}"


class SettlementAdjustment(models.Model):
    """HQ finance's correction to a draft period for a (clerk, store), with the reason."""

    period = models.ForeignKey(
        SettlementPeriod, verbose_name=_("period"), on_delete=models.PROTECT, related_name="adjustments"
    )
    clerk = models.ForeignKey(
        USER, verbose_name=_("clerk"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    store = models.ForeignKey("org.Location", verbose_name=_("store"), on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(_("amount"), **MONEY)
    reason = models.CharField(_("reason"), max_length=300)
    by = models.ForeignKey(USER, verbose_name=_("by"), on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("at"), auto_now_add=True)

    STORE_FIELD = "store"

    class Meta:
        verbose_name = _("settlement adjustment")
        verbose_name_plural = _("settlement adjustments")
        ordering = ["at"]

    def __str__(self) -> str:
        return f"{self.amount} ({self.reason})"
