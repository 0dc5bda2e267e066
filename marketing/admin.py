from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from marketing import selectors, services
from marketing.models import MemberRFM, Segment, SegmentRun
from marketing.rules import rules_clean
from omo.core.admin_helpers import ReadOnlyAdmin
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


class SegmentRunInline(admin.TabularInline):
    model = SegmentRun
    fields = ["at", "members", "entered", "left", "by"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0
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

    @admin.action(description=_("Evaluate now (members enter and leave)"))
    def evaluate(self, request, queryset):
        for segment in queryset:
            run = services.segment_evaluate(segment=segment, actor=request.user)
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
