from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from marketing import campaigns, engagement, selectors, services
from marketing.models import (
    BoughtTogether,
    Campaign,
    CampaignRecipient,
    CategoryAffinity,
    EventAttendance,
    MemberRFM,
    Review,
    Segment,
    SegmentRun,
    StoreEvent,
)
from marketing.rules import rules_clean
from omo.core.admin_helpers import ReadOnlyAdmin, ReadOnlyInline
from omo.core.errors import ApplicationError


class SegmentForm(forms.ModelForm):
    """The rules checked by the service, each problem shown on the form (not a 500)."""

    class Meta:
        model = Segment
        fields = ["name", "description", "rules", "schedule", "is_active"]

    def clean_rules(self):
        try:
            return rules_clean(self.cleaned_data.get("rules"))
        except ApplicationError as error:
            problems = (error.details or {}).get("rules")
            detail = "; ".join(f"{k}: {v}" for k, v in problems.items()) if problems else ""
            raise forms.ValidationError(f"{error.message} {detail}".strip(), code=error.code) from None


class SegmentRunInline(ReadOnlyInline):
    model = SegmentRun
    fields = ["at", "members", "entered", "left", "by"]
    ordering = ["-at"]


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = ["name", "schedule", "is_active", "members_count", "evaluated_at", "updated_by", "updated_at"]
    list_filter = ["schedule", "is_active"]
    search_fields = ["name", "description"]
    readonly_fields = ["members_count", "evaluated_at", "live_count", "created_by", "created_at", "updated_by",
                       "updated_at"]  # fmt: skip
    inlines = [SegmentRunInline]
    actions = ["evaluate"]

    @admin.display(description=_("Members now (live)"))
    def live_count(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        return selectors.rules_preview(obj.rules, sample=0)["count"]

    def save_model(self, request, obj, form, change):  # the form ran the rules' checks already
        fields = {name: getattr(obj, name) for name in ("name", "description", "rules", "schedule")}
        if change:
            stored = Segment.objects.get(pk=obj.pk)
            if stored.rules == obj.rules:
                fields.pop("rules")
            services.segment_update(actor=request.user, segment=stored, is_active=obj.is_active, **fields)
        else:
            created = services.segment_create(actor=request.user, **fields)
            obj.pk = created.pk

    def save_related(self, request, form, formsets, change):
        """Runs are written by the service only."""

    @admin.action(description=_("Evaluate now (members enter and leave)"), permissions=["change"])
    def evaluate(self, request, queryset):
        for segment in queryset:
            try:
                run = services.segment_evaluate(segment=segment, actor=request.user)
            except ApplicationError as error:
                self.message_user(request, f"{segment.name}: {error.message}", messages.ERROR)
                continue
            self.message_user(
                request,
                _("%(name)s: %(members)d members, %(entered)d entered, %(left)d left.")
                % {"name": segment.name, "members": run.members, "entered": run.entered, "left": run.left},
                messages.SUCCESS,
            )


@admin.register(MemberRFM)
class MemberRFMAdmin(ReadOnlyAdmin):
    list_display = ["member", "r", "f", "m", "recency_days", "frequency", "monetary", "computed_on"]
    list_filter = ["r", "f", "m"]
    search_fields = ["member__member_no", "member__name"]
    list_select_related = ["member"]


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = [
            "name", "segment", "channel", "subject", "message", "coupon_campaign", "bonus_points", "control_percent",
            "attribution_days", "per_minute", "quiet_start", "quiet_end",
        ]  # fmt: skip

    def clean(self):
        """The service's checks, each problem on its field (not a 500)."""
        data = super().clean()
        draft = Campaign(**{k: v for k, v in data.items() if v is not None})
        try:
            campaigns.check(draft)
        except ApplicationError as error:
            for field, problem in (error.details or {}).items():
                self.add_error(field if field in self.fields else None, problem)
        return data


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    """Drafts are made here or through the API; launching and cancelling are actions (the services)."""

    form = CampaignForm
    list_display = ["name", "segment", "channel", "status", "audience", "launched_at", "finished_at"]
    list_filter = ["status", "channel"]
    search_fields = ["name"]
    readonly_fields = ["status", "audience", "summary", "launched_at", "launched_by", "finished_at", "created_by"]
    actions = ["launch", "cancel"]

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or obj.status == Campaign.Status.DRAFT)

    @admin.display(description=_("Recipients"))
    def summary(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        return (
            "; ".join(
                f"{group}: " + ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
                for group, counts in selectors.campaign_summary(obj).items()
            )
            or "—"
        )

    def save_model(self, request, obj, form, change):
        if change:  # a draft: the service locks it and refuses if it was launched meanwhile
            try:
                campaigns.campaign_update(
                    actor=request.user, campaign=obj, **{f: form.cleaned_data.get(f) for f in form.changed_data}
                )
            except ApplicationError as error:
                self.message_user(request, f"{obj.name}: {error.message}", messages.ERROR)
        else:
            fields = {f: form.cleaned_data.get(f) for f in CampaignForm.Meta.fields if f not in ("name", "segment")}
            fields.pop("channel")
            fields.pop("message")
            created = campaigns.campaign_create(
                actor=request.user, name=obj.name, segment=obj.segment, channel=obj.channel, message=obj.message,
                **fields,
            )  # fmt: skip
            obj.pk = created.pk

    @admin.action(description=_("Launch (fix the audience and send)"), permissions=["change"])
    def launch(self, request, queryset):
        for campaign in queryset:
            try:
                campaigns.campaign_launch(actor=request.user, campaign=campaign)
            except ApplicationError as error:
                self.message_user(request, f"{campaign.name}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, _("%(name)s: launched.") % {"name": campaign.name}, messages.SUCCESS)

    @admin.action(description=_("Cancel (what was not sent is not sent)"), permissions=["change"])
    def cancel(self, request, queryset):
        for campaign in queryset:
            try:
                campaigns.campaign_cancel(actor=request.user, campaign=campaign)
            except ApplicationError as error:
                self.message_user(request, f"{campaign.name}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, _("%(name)s: cancelled.") % {"name": campaign.name}, messages.SUCCESS)


@admin.register(CampaignRecipient)
class CampaignRecipientAdmin(ReadOnlyAdmin):
    """The send log."""

    list_display = ["campaign", "member", "group", "status", "sent_at", "coupon_code", "detail"]
    list_filter = ["group", "status", "campaign"]
    search_fields = ["member__member_no", "campaign__name"]
    list_select_related = ["campaign", "member"]


@admin.register(BoughtTogether)
class BoughtTogetherAdmin(ReadOnlyAdmin):
    list_display = ["product", "rank", "other", "orders", "confidence"]
    search_fields = ["product__style_code", "product__name"]
    list_select_related = ["product", "other"]


@admin.register(CategoryAffinity)
class CategoryAffinityAdmin(ReadOnlyAdmin):
    list_display = ["member", "rank", "category", "spend", "share"]
    search_fields = ["member__member_no"]
    list_select_related = ["member", "category"]


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    """Reviews are written by members; HQ approves or rejects them here (the service records who)."""

    list_display = ["created_at", "product", "rating", "title", "verified", "channel", "status", "moderated_by"]
    list_filter = ["status", "rating", "verified", "channel"]
    search_fields = ["product__style_code", "product__name", "title", "body"]
    list_select_related = ["product", "channel", "moderated_by"]
    actions = ["approve", "reject"]

    def has_change_permission(self, request, obj=None):  # the actions need it to show
        return request.user.has_perm("marketing.change_review")

    @admin.action(description=_("Approve (show it)"), permissions=["change"])
    def approve(self, request, queryset):
        self._moderate(request, queryset, approve=True)

    @admin.action(description=_("Reject (as off-topic or abusive)"), permissions=["change"])
    def reject(self, request, queryset):
        self._moderate(request, queryset, approve=False)

    def _moderate(self, request, queryset, *, approve: bool):
        done = 0
        for review in queryset:
            try:
                engagement.review_moderate(
                    actor=request.user,
                    review=review,
                    approve=approve,
                    note="" if approve else str(_("Rejected in the admin.")),
                )
                done += 1
            except ApplicationError as error:
                self.message_user(request, f"{review}: {error.message}", messages.WARNING)
        self.message_user(request, _("%(n)d reviews moderated.") % {"n": done}, messages.SUCCESS)


class EventAttendanceInline(ReadOnlyInline):
    model = EventAttendance
    fields = ["member", "status", "registered_at", "attended_at", "checked_in_by"]


@admin.register(StoreEvent)
class StoreEventAdmin(admin.ModelAdmin):
    list_display = ["name", "store", "starts_at", "ends_at", "capacity"]
    list_filter = ["store"]
    search_fields = ["name"]
    inlines = [EventAttendanceInline]
    readonly_fields = ["created_by", "created_at"]

    def save_model(self, request, obj, form, change):
        if change:
            obj.save()
        else:
            created = engagement.event_create(
                actor=request.user, name=obj.name, store=obj.store, starts_at=obj.starts_at, ends_at=obj.ends_at,
                capacity=obj.capacity,
            )  # fmt: skip
            obj.pk = created.pk

    def save_related(self, request, form, formsets, change):
        """Attendance is recorded by sign-up and check-in only."""


def _engagement_section(member):
    from django.utils import timezone

    rows = [
        [timezone.localtime(at).strftime("%Y-%m-%d %H:%M"), str(kind), what]
        for at, kind, what in selectors.member_engagement(member)
    ]
    return {
        "key": "engagement",
        "title": _("Engagement beyond purchases"),
        "headers": [_("when"), _("what"), _("detail")],
        "rows": rows,
    }


def _segments_section(member):
    from django.utils import timezone

    rows = [
        [
            stay.segment.name,
            timezone.localtime(stay.entered_at).strftime("%Y-%m-%d"),
            timezone.localtime(stay.left_at).strftime("%Y-%m-%d") if stay.left_at else str(_("still in")),
        ]
        for stay in selectors.member_segments(member)[:30]
    ]
    return {"key": "segments", "title": _("Segments"), "headers": [_("segment"), _("entered"), _("left")], "rows": rows}


def _register_member_section():
    from members.selectors import MEMBER_360_SECTIONS

    for section in (_segments_section, _engagement_section):
        if section not in MEMBER_360_SECTIONS:
            MEMBER_360_SECTIONS.append(section)


_register_member_section()
