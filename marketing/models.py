"""Precision marketing (精準行銷) on the unified member data: nightly RFM scores, and saved member
segments built from rules, re-evaluated on a schedule with their membership over time kept.

A segment's rules are the member rules of ``members.segments`` (tier, OMO segment, stores, consent,
birthday month, points ...) with the rules that need orders, attribution or the scores here
(``marketing.rules``). Membership is kept as intervals: a member enters a segment on the evaluation
that first finds them and leaves on the first that does not; nothing is ever overwritten."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
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
    """One evaluation of a segment: how many members it found, entered and left, with the rules it used."""

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

    class Meta:
        verbose_name = _("segment evaluation")
        verbose_name_plural = _("segment evaluations")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.segment_id} {self.at:%Y-%m-%d %H:%M}: {self.members}"
