"""HQ's clerk-attribution pages: policy versions (new draft, adopt, what-if on a past month), bindings
(manual assignment with a reason), attribution lines with their explanation, and the monthly
settlement (build, adjust, approve, mark paid, CSV for payroll). Every write goes through the services."""

from __future__ import annotations

from datetime import date

from dateutil.relativedelta import relativedelta
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from attribution import selectors, services, settlement
from attribution.models import (
    AttributionLine,
    Binding,
    OrderAttribution,
    Policy,
    SettlementAdjustment,
    SettlementLine,
    SettlementPeriod,
)
from omo.core.admin_helpers import ReadOnlyAdmin, ReadOnlyInline
from omo.core.errors import ApplicationError
from omo.org.access import scope_to_user


class PolicyForm(forms.ModelForm):
    class Meta:
        model = Policy
        fields = list(services.POLICY_FIELDS)


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    """A saved form makes a new draft version (adopted versions never change); adopt a draft from now,
    or try it on a past month first."""

    form = PolicyForm
    list_display = ["version", "name", "effective_from", "conflict", "default_rate", "store_share", "note", "what_if"]
    actions = ["adopt_now"]

    @admin.display(description=gettext_lazy("What-if"))
    def what_if(self, obj):
        from django.urls import reverse
        from django.utils.html import format_html

        return format_html(
            '<a href="{}">{}</a>', reverse("admin:attribution_policy_simulate", args=[obj.pk]), _("Try on a past month")
        )

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [*services.POLICY_FIELDS, "version", "effective_from"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in services.POLICY_FIELDS}
        obj.pk = services.policy_create(actor=request.user, **data).pk

    @admin.action(description=gettext_lazy("Put the selected draft in force from now"))
    def adopt_now(self, request, queryset):
        for policy in queryset.order_by("version"):
            try:
                services.policy_adopt(actor=request.user, policy=policy)
            except ApplicationError as error:
                self.message_user(request, f"v{policy.version}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, _("Version %(v)s is in force.") % {"v": policy.version})

    def get_urls(self):
        own = [
            path(
                "<int:pk>/simulate/",
                self.admin_site.admin_view(self.simulate_view),
                name="attribution_policy_simulate",
            )
        ]
        return own + super().get_urls()

    def simulate_view(self, request, pk):
        """What-if: a past month's sales under this version beside what they earned."""
        if not request.user.has_perm("attribution.view_policy"):
            raise PermissionDenied
        policy = get_object_or_404(Policy, pk=pk)
        default = timezone.localdate().replace(day=1) - relativedelta(months=1)
        try:
            year, month = (int(p) for p in request.GET.get("month", default.strftime("%Y-%m")).split("-"))
            month = date(year, month, 1)
        except ValueError:
            month = default
        rows = settlement.simulate(month=month, policy=policy)
        from omo.org.models import Location, User

        stores = Location.objects.in_bulk({r["store_id"] for r in rows})
        clerks = User.objects.select_related("staff_profile").in_bulk({r["clerk_id"] for r in rows if r["clerk_id"]})
        for r in rows:
            r["store"] = stores[r["store_id"]].code
            clerk = clerks.get(r["clerk_id"])
            r["clerk"] = clerk.staff_profile.display_name if clerk and hasattr(clerk, "staff_profile") else "-"
        totals = {k: sum((r[k] for r in rows), start=0) for k in ("actual", "simulated", "difference")}
        return TemplateResponse(
            request,
            "admin/attribution/simulate.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "original": policy,
                "policy": policy,
                "month": month,
                "rows": rows,
                "totals": totals,
            },
        )


class BindingForm(forms.ModelForm):
    class Meta:
        model = Binding
        fields = ["member", "clerk", "store", "note"]
        labels = {"note": gettext_lazy("Reason")}


@admin.register(Binding)
class BindingAdmin(admin.ModelAdmin):
    """The history of who served which member. Adding one here is HQ's manual assignment (with the
    reason); nothing is edited, a binding is ended (through the API) or runs out."""

    form = BindingForm
    list_display = ["started_at", "member", "clerk", "store", "source", "counts", "ended_at", "reference", "note"]
    list_filter = ["source", "counts", "store"]
    search_fields = ["member__member_no", "clerk__username", "reference"]
    list_select_related = ["member", "clerk", "store"]
    autocomplete_fields = ["member", "store"]
    raw_id_fields = ["clerk"]

    def get_queryset(self, request):
        return scope_to_user(super().get_queryset(request), request.user)

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.pk = services.binding_assign(
            actor=request.user,
            member=form.cleaned_data["member"],
            clerk=form.cleaned_data["clerk"],
            store=form.cleaned_data["store"],
            reason=form.cleaned_data["note"],
        ).pk


@admin.register(OrderAttribution)
class OrderAttributionAdmin(ReadOnlyAdmin):
    list_display = ["attributed_at", "order", "policy", "rule", "explanation"]
    list_filter = ["rule", "policy"]
    search_fields = ["order__number"]
    list_select_related = ["order", "policy"]


@admin.register(SettlementLine)
class SettlementLineAdmin(ReadOnlyAdmin):
    list_display = ["period", "store", "clerk", "lines", "base", "commission", "adjustments", "payable"]
    list_filter = ["period", "store"]
    search_fields = ["clerk__username", "store__code"]
    list_select_related = ["period", "store", "clerk"]

    def get_queryset(self, request):
        return scope_to_user(super().get_queryset(request), request.user)


@admin.register(SettlementAdjustment)
class SettlementAdjustmentAdmin(admin.ModelAdmin):
    """HQ finance's corrections of a draft month, with the reason (added here or through the API)."""

    list_display = ["at", "period", "store", "clerk", "amount", "reason", "by"]
    list_filter = ["period", "store"]
    search_fields = ["reason", "clerk__username"]
    list_select_related = ["period", "store", "clerk", "by"]
    fields = ["period", "store", "clerk", "amount", "reason"]
    raw_id_fields = ["clerk"]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.pk = settlement.settlement_adjust(
            actor=request.user,
            period=obj.period,
            store=obj.store,
            clerk=obj.clerk,
            amount=obj.amount,
            reason=obj.reason,
        ).pk


@admin.register(AttributionLine)
class AttributionLineAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "kind", "order", "clerk", "store", "rule", "base", "rate", "commission", "period"]
    list_filter = ["kind", "rule", "store", "period"]
    search_fields = ["order__number", "clerk__username"]
    list_select_related = ["order", "clerk", "store", "period"]
    readonly_fields = ["explanation"]

    def get_queryset(self, request):
        return scope_to_user(super().get_queryset(request), request.user)

    @admin.display(description=gettext_lazy("Explanation"))
    def explanation(self, obj):
        return selectors.explain(obj)["explanation"]


class SettlementLineInline(ReadOnlyInline):
    model = SettlementLine
    fields = ["store", "clerk", "lines", "base", "commission", "store_amount", "personal_amount", "adjustments",
              "payable"]  # fmt: skip


class SettlementAdjustmentInline(ReadOnlyInline):
    model = SettlementAdjustment
    fields = ["at", "store", "clerk", "amount", "reason", "by"]


@admin.register(SettlementPeriod)
class SettlementPeriodAdmin(ReadOnlyAdmin):
    """Monthly settlement: build (again) the draft, approve what you reviewed (the month is then
    locked), mark paid, export the CSV for payroll. Adjustments go through the API or the form below."""

    list_display = ["month", "status", "built_at", "approved_by", "approved_at", "paid_at"]
    inlines = [SettlementLineInline, SettlementAdjustmentInline]
    actions = ["build", "approve", "mark_paid", "export_csv"]
    readonly_fields = ["month", "status", "built_at", "fingerprint", "approved_by", "approved_at", "paid_by",
                       "paid_at"]  # fmt: skip

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("attribution.view_settlementperiod")  # to see the page; writes via actions

    @admin.action(description=gettext_lazy("Build the draft again"))
    def build(self, request, queryset):
        self._each(request, queryset, lambda p: settlement.settlement_build(actor=request.user, month=p.month))

    @admin.action(description=gettext_lazy("Approve the draft as shown (locks the month)"))
    def approve(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda p: settlement.settlement_approve(actor=request.user, period=p, fingerprint=p.fingerprint),
        )

    @admin.action(description=gettext_lazy("Mark paid"))
    def mark_paid(self, request, queryset):
        self._each(request, queryset, lambda p: settlement.settlement_mark_paid(actor=request.user, period=p))

    @admin.action(description=gettext_lazy("Export the CSV for payroll"))
    def export_csv(self, request, queryset):
        period = queryset.order_by("month").first()
        response = HttpResponse(settlement.settlement_csv(period), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="commission-{period}.csv"'
        return response

    def _each(self, request, queryset, run):
        for period in queryset.order_by("month"):
            try:
                run(period)
            except ApplicationError as error:
                self.message_user(request, f"{period}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, _("%(month)s: done.") % {"month": period})
        return redirect(request.get_full_path())


def _bindings_section(member) -> dict:
    """The member page's binding history (會員歸屬), for HQ."""
    rows = []
    for b in selectors.binding_history(member=member):
        profile = getattr(b.clerk, "staff_profile", None) if b.clerk_id else None
        rows.append(
            [
                timezone.localtime(b.started_at).strftime("%Y-%m-%d %H:%M"),
                b.get_source_display(),
                profile.display_name if profile else "-",
                b.store.code,
                {
                    "active": _("in force"),
                    "expired": _("ran out"),
                    "ended": _("ended"),
                    "not_counting": _("inside another clerk's waiting period"),
                }[selectors.binding_state(b)],
                b.reference or "-",
                b.note or "-",
            ]
        )
    return {
        "key": "bindings",
        "title": _("Clerk bindings (會員歸屬)"),
        "headers": [_("from"), _("source"), _("clerk"), _("store"), _("state"), _("reference"), _("note")],
        "rows": rows,
    }


def _register_member_section():
    from members.selectors import MEMBER_360_SECTIONS

    if _bindings_section not in MEMBER_360_SECTIONS:
        MEMBER_360_SECTIONS.append(_bindings_section)


_register_member_section()
