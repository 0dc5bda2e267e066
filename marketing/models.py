"""Precision marketing (精準行銷) on the unified member data: nightly RFM scores, and saved member
segments built from rules, re-evaluated on a schedule with their membership over time kept.

A segment's rules are the member rules of ``members.segments`` (tier, OMO segment, stores, consent,
birthday month, points ...) with the rules that need orders, attribution or the scores here
(``marketing.rules``). Membership is kept as intervals: a member enters a segment on the evaluation
that first finds them and leaves on the first that does not; nothing is ever overwritten."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 16, "decimal_places": 2}


class MemberRFM(models.Model):
    """A member's recency, frequency and monetary value over the ``RFM_DAYS`` days up to the night it
    was computed, each scored 1-5 in quintiles of the members who bought (5: the most recent, the most
    purchases, the most spend; equal values get the same score). Members without a purchase in the
    window have no row: the rules read them as 0."""

    member = models.OneToOneField(
        "members.Member", verbose_name=_("member"), primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    last_purchase_at = models.DateTimeField(_("last purchase"))
    recency_days = models.PositiveIntegerField(_("days since the last purchase"))
    frequency = models.PositiveIntegerField(_("purchases"))
    monetary = models.DecimalField(_("spend"), **MONEY)
    r = models.PositiveSmallIntegerField(_("R score"))
    f = models.PositiveSmallIntegerField(_("F score"))
    m = models.PositiveSmallIntegerField(_("M score"))
    computed_on = models.DateField(_("computed on"))

    class Meta:
        verbose_name = _("RFM score")
        verbose_name_plural = _("RFM scores")
        constraints = [
            models.CheckConstraint(
                condition=Q(r__range=(1, 5), f__range=(1, 5), m__range=(1, 5)), name="rfm_scores_1_to_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: R{self.r} F{self.f} M{self.m}"


class Segment(models.Model):
    """A saved set of rules. ``schedule`` says when it is evaluated again: every night, or only when
    someone asks (its members then stay as the last evaluation found them)."""

    class Schedule(models.TextChoices):
        DAILY = "daily", _("Every night")
        MANUAL = "manual", _("When asked")

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    rules = models.JSONField(_("rules"), default=dict)
    schedule = models.CharField(_("evaluated"), max_length=10, choices=Schedule.choices, default=Schedule.DAILY)
    is_active = models.BooleanField(_("active"), default=True)
    members_count = models.PositiveIntegerField(_("members"), default=0)
    evaluated_at = models.DateTimeField(_("last evaluated"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("changed by"), null=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(_("changed at"), auto_now=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SegmentMembership(models.Model):
    """A member's stay in a segment: from the evaluation that found them to the one that no longer did
    (``left_at`` empty: still in). A member who comes back gets a new row."""

    segment = models.ForeignKey(Segment, verbose_name=_("segment"), on_delete=models.CASCADE, related_name="stays")
    member = models.ForeignKey("members.Member", verbose_name=_("member"), on_delete=models.CASCADE, related_name="+")
    entered_at = models.DateTimeField(_("entered"))
    left_at = models.DateTimeField(_("left"), null=True, blank=True)

    class Meta:
        verbose_name = _("segment membership")
        verbose_name_plural = _("segment memberships")
        ordering = ["-entered_at", "member_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["segment", "member"], condition=Q(left_at__isnull=True), name="segment_member_in_once"
            ),
        ]
        indexes = [models.Index(fields=["member", "entered_at"], name="segment_stay_member")]

    def __str__(self) -> str:
        return f"{self.segment_id}/{self.member_id} {self.entered_at:%Y-%m-%d}"


class SegmentRun(models.Model):
    """One evaluation of a segment: how many members it found, entered and left, with the rules it used.
    A failed one (the nightly job goes on with the other segments) says why in ``error``."""

    segment = models.ForeignKey(Segment, verbose_name=_("segment"), on_delete=models.CASCADE, related_name="runs")
    at = models.DateTimeField(_("at"))
    rules = models.JSONField(_("rules"))
    members = models.PositiveIntegerField(_("members"))
    entered = models.PositiveIntegerField(_("entered"))
    left = models.PositiveIntegerField(_("left"))
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Empty: the nightly job."),
    )
    error = models.TextField(
        _("failed"),
        blank=True,
        help_text=_("Empty: evaluated. Otherwise why the evaluation failed; the members stayed as they were."),
    )

    class Meta:
        verbose_name = _("segment evaluation")
        verbose_name_plural = _("segment evaluations")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.segment_id} {self.at:%Y-%m-%d %H:%M}: {self.members}"


class Campaign(models.Model):
    """A message to a segment's members through one channel, optionally with a unique coupon code or
    bonus points, sent by workers in throttled batches outside quiet hours. A share of the audience
    (``control_percent``) is held out at random as the control group: they get nothing, so that what
    the campaign changed can be measured against them."""

    class Channel(models.TextChoices):
        SMS = "sms", _("SMS")
        EMAIL = "email", _("Email")
        LINE = "line", _("LINE")
        PUSH = "push", _("App push")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        CANCELLED = "cancelled", _("Cancelled")

    name = models.CharField(_("name"), max_length=100)
    segment = models.ForeignKey(Segment, verbose_name=_("segment"), on_delete=models.PROTECT, related_name="campaigns")
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    subject = models.CharField(_("subject"), max_length=150, blank=True, help_text=_("Email only."))
    message = models.TextField(
        _("message"), help_text=_("{name}: the member's name; {code}: their coupon code; {points}: the bonus.")
    )
    coupon_campaign = models.ForeignKey(
        "members.CouponCampaign",
        verbose_name=_("coupon"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("A unique-code coupon campaign: each member reached gets a code in their wallet."),
    )
    bonus_points = models.PositiveIntegerField(_("bonus points"), default=0)
    control_percent = models.PositiveSmallIntegerField(_("control group (%)"), default=10)
    attribution_days = models.PositiveSmallIntegerField(_("days an order counts for it"), default=14)
    per_minute = models.PositiveIntegerField(_("sends per minute"), default=600)
    quiet_start = models.TimeField(_("quiet from"), null=True, blank=True, help_text=_("Empty: the default."))
    quiet_end = models.TimeField(_("quiet until"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    audience = models.PositiveIntegerField(_("audience"), default=0)
    launched_at = models.DateTimeField(_("launched at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    launched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("launched by"), null=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(control_percent__lte=50), name="campaign_control_at_most_half"),
            models.CheckConstraint(condition=Q(per_minute__gte=1), name="campaign_per_minute_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class CampaignRecipient(models.Model):
    """One member of a campaign's audience, fixed at launch, and what became of them: the send log.
    A member is in a campaign once (a second send is impossible by construction); ``sending`` is taken
    before the provider is called, so a worker that dies mid-call never sends again."""

    class Group(models.TextChoices):
        TARGET = "target", _("Target")
        CONTROL = "control", _("Control (held out)")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        SENDING = "sending", _("Being sent")
        SENT = "sent", _("Sent")
        NO_CONSENT = "no_consent", _("Skipped: no consent")
        NO_ADDRESS = "no_address", _("Skipped: nowhere to send")
        FAILED = "failed", _("Failed")
        HELD_OUT = "held_out", _("Held out (control)")
        UNKNOWN = "unknown", _("Unknown: the worker stopped while sending (not sent again)")

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="recipients"
    )
    member = models.ForeignKey("members.Member", verbose_name=_("member"), on_delete=models.CASCADE, related_name="+")
    group = models.CharField(_("group"), max_length=10, choices=Group.choices)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices)
    detail = models.CharField(_("detail"), max_length=200, blank=True)
    provider_id = models.CharField(_("provider's id"), max_length=100, blank=True)
    coupon_code = models.CharField(_("coupon code"), max_length=32, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("taken for sending at"), null=True, blank=True)

    class Meta:
        verbose_name = _("campaign recipient")
        verbose_name_plural = _("campaign recipients")
        constraints = [models.UniqueConstraint(fields=["campaign", "member"], name="campaign_member_once")]
        indexes = [
            models.Index(fields=["campaign", "status"], name="recipient_campaign_status"),
            models.Index(fields=["campaign", "claimed_at"], name="recipient_campaign_claimed"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.member_id}: {self.status}"


class BoughtTogether(models.Model):
    """Products often in the same order as ``product`` (any channel, the ``RECO_DAYS`` up to the night it
    was computed): the orders holding both, and the share of ``product``'s orders that also held
    ``other``. The 10 strongest per product; rebuilt every night."""

    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+")
    other = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+")
    orders = models.PositiveIntegerField(_("orders with both"))
    confidence = models.DecimalField(_("share of its orders"), max_digits=5, decimal_places=4)
    rank = models.PositiveSmallIntegerField(_("rank"))

    class Meta:
        verbose_name = _("bought together")
        verbose_name_plural = _("bought together")
        constraints = [models.UniqueConstraint(fields=["product", "rank"], name="bought_together_rank_once")]

    def __str__(self) -> str:
        return f"{self.product_id} + {self.other_id}: {self.orders}"


class CategoryAffinity(models.Model):
    """A member's share of spend per category over the ``RECO_DAYS`` (every channel, less refunds): the
    categories they buy, strongest first (at most 5 per member); rebuilt every night."""

    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    category = models.ForeignKey("catalog.Category", on_delete=models.CASCADE, related_name="+")
    spend = models.DecimalField(_("spend"), **MONEY)
    share = models.DecimalField(_("share of spend"), max_digits=5, decimal_places=4)
    rank = models.PositiveSmallIntegerField(_("rank"))

    class Meta:
        verbose_name = _("category affinity")
        verbose_name_plural = _("category affinities")
        constraints = [models.UniqueConstraint(fields=["member", "rank"], name="category_affinity_rank_once")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.category_id}: {self.share}"


class Review(models.Model):
    """A member's rating (1-5) and words on a product, from any channel, shown once HQ approves it.
    ``verified``: the member had bought the product when they wrote it."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for moderation")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    member = models.ForeignKey("members.Member", verbose_name=_("member"), on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(
        "catalog.Product", verbose_name=_("product"), on_delete=models.CASCADE, related_name="+"
    )
    rating = models.PositiveSmallIntegerField(_("rating"))
    title = models.CharField(_("title"), max_length=100, blank=True)
    body = models.TextField(_("review"), max_length=2000, blank=True)
    channel = models.ForeignKey(
        "org.SalesChannel", verbose_name=_("channel"), on_delete=models.PROTECT, related_name="+"
    )
    store = models.ForeignKey(
        "org.Location", verbose_name=_("store"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    verified = models.BooleanField(_("bought it"), default=False)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("moderated by"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    moderated_at = models.DateTimeField(_("moderated at"), null=True, blank=True)
    moderation_note = models.CharField(_("moderation note"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("written at"), auto_now_add=True)

    class Meta:
        verbose_name = _("review")
        verbose_name_plural = _("reviews")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(rating__range=(1, 5)), name="review_rating_1_to_5"),
            models.UniqueConstraint(fields=["member", "product"], name="review_once_per_product"),
        ]
        indexes = [models.Index(fields=["product", "status"], name="review_product_status")]

    def __str__(self) -> str:
        return f"{self.product_id} {self.rating}★ ({self.status})"


class StoreEvent(models.Model):
    """An event members take part in: a workshop, a styling night, a tasting, in a store (or online)."""

    name = models.CharField(_("name"), max_length=100)
    store = models.ForeignKey(
        "org.Location", verbose_name=_("store"), null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text=_("Empty: online."),
    )  # fmt: skip
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    capacity = models.PositiveIntegerField(_("places"), null=True, blank=True, help_text=_("Empty: no limit."))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    STORE_FIELD = "store"

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["-starts_at"]
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="event_ends_after_start")]

    def __str__(self) -> str:
        return self.name


class EventAttendance(models.Model):
    """A member signed up for an event, and whether they came (checked in by a clerk)."""

    class Status(models.TextChoices):
        REGISTERED = "registered", _("Signed up")
        ATTENDED = "attended", _("Came")
        CANCELLED = "cancelled", _("Cancelled")

    event = models.ForeignKey(StoreEvent, verbose_name=_("event"), on_delete=models.CASCADE, related_name="attendances")
    member = models.ForeignKey("members.Member", verbose_name=_("member"), on_delete=models.CASCADE, related_name="+")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.REGISTERED)
    registered_at = models.DateTimeField(_("signed up at"), auto_now_add=True)
    attended_at = models.DateTimeField(_("came at"), null=True, blank=True)
    checked_in_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("checked in by"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip

    class Meta:
        verbose_name = _("event attendance")
        verbose_name_plural = _("event attendances")
        constraints = [models.UniqueConstraint(fields=["event", "member"], name="event_member_once")]

    def __str__(self) -> str:
        return f"{self.event_id}/{self.member_id}: {self.status}"
