"""The audit trail in the HQ admin: every recorded change, newest first, filterable by table, object,
user and date; read-only. HQ admins and HQ finance only (``audit.view_auditevent``)."""

from __future__ import annotations

import json
import threading

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from omo.audit.models import TRACKED, AuditEvent

EVENT_MODELS = {m.pgh_tracked_model._meta.label: m for m in TRACKED}
_page = threading.local()  # usernames of the users on the page being rendered (one query, not one per row)
LABELS = {"insert": _("created"), "update": _("changed"), "delete": _("deleted")}


class TableFilter(admin.SimpleListFilter):
    title = _("table")
    parameter_name = "pgh_obj_model"

    def lookups(self, request, model_admin):
        return sorted(
            ((label, str(m.pgh_tracked_model._meta.verbose_name)) for label, m in EVENT_MODELS.items()),
            key=lambda pair: pair[1],
        )

    def queryset(self, request, queryset):
        if self.value() in EVENT_MODELS:
            # read the one event table instead of the union of all of them
            return queryset.across(EVENT_MODELS[self.value()]).filter(pgh_obj_model=self.value())
        return queryset


class UserFilter(admin.SimpleListFilter):
    title = _("user")
    parameter_name = "user"

    def lookups(self, request, model_admin):
        users = get_user_model().objects.filter(is_active=True, is_staff=True).order_by("username")
        return [(str(u.pk), u.get_username()) for u in users[:200]]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(user_id=int(value))
        return queryset


class ActionFilter(admin.SimpleListFilter):
    title = _("action")
    parameter_name = "pgh_label"

    def lookups(self, request, model_admin):
        return list(LABELS.items())

    def queryset(self, request, queryset):
        return queryset.filter(pgh_label=self.value()) if self.value() in LABELS else queryset


def _fmt(value) -> str:
    return "∅" if value is None else (value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))


def _changes(event: AuditEvent) -> list[tuple[str, str, str]]:
    """(field, before, after) of the event: the changed fields of an update, every field otherwise."""
    data = dict(event.pgh_data or {})
    before = data.pop("audit_before", None) or {}
    data.pop("id", None)
    if event.pgh_label == "update":
        return [(key, _fmt(before.get(key)), _fmt(value)) for key, value in data.items() if before.get(key) != value]
    if event.pgh_label == "delete":
        return [(key, _fmt(value), "") for key, value in data.items()]
    return [(key, "", _fmt(value)) for key, value in data.items()]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["pgh_created_at", "table", "pgh_obj_id", "action", "who", "changes"]
    list_display_links = ["pgh_created_at"]
    list_filter = [TableFilter, ActionFilter, UserFilter, ("pgh_created_at", admin.DateFieldListFilter)]
    ordering = ["-pgh_created_at", "-pgh_id"]
    list_per_page = 50
    show_full_result_count = False
    fields = ["pgh_created_at", "table", "pgh_obj_id", "action", "who", "url", "changes", "pgh_context_id"]
    readonly_fields = fields

    def get_queryset(self, request):
        queryset = AuditEvent.objects.all()
        if connection.vendor != "postgresql":  # no triggers, and the union query is PostgreSQL SQL
            return queryset.none()
        # ?pgh_obj_model=<app.Model>&pgh_obj_id=<pk> (the link on a change page) reads one table
        label = request.GET.get("pgh_obj_model")
        return queryset.across(EVENT_MODELS[label]) if label in EVENT_MODELS else queryset

    def changelist_view(self, request, extra_context=None):
        if connection.vendor != "postgresql":
            self.message_user(
                request, gettext("The audit trail is recorded on PostgreSQL only; this database is not."),
                messages.WARNING,
            )  # fmt: skip
        return super().changelist_view(request, extra_context)

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        ids = {(e.pgh_context or {}).get("user") for e in changelist.result_list} - {None}
        _page.users = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
        return changelist

    def lookup_allowed(self, lookup, value, request=None):
        return lookup in ("pgh_obj_id", "pgh_obj_model") or super().lookup_allowed(lookup, value, request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("table"), ordering="pgh_obj_model")
    def table(self, event):
        model = EVENT_MODELS.get(event.pgh_obj_model)
        return model.pgh_tracked_model._meta.verbose_name if model else event.pgh_obj_model

    @admin.display(description=_("action"), ordering="pgh_label")
    def action(self, event):
        return LABELS.get(event.pgh_label, event.pgh_label)

    @admin.display(description=_("by"))
    def who(self, event):
        context = event.pgh_context or {}
        if context.get("user"):
            users = getattr(_page, "users", {})
            if context["user"] not in users:
                users = dict(get_user_model().objects.filter(pk=context["user"]).values_list("pk", "username"))
            return users.get(context["user"], f"#{context['user']}")
        if context.get("channel"):
            return gettext("channel %(code)s") % {"code": context["channel"]}
        if context.get("job"):
            return gettext("job %(name)s") % {"name": context["job"]}
        if context.get("command"):
            return gettext("command %(name)s") % {"name": context["command"]}
        return gettext("unknown (no context: SQL outside the application)")

    @admin.display(description=_("URL"))
    def url(self, event):
        context = event.pgh_context or {}
        return " ".join(filter(None, [context.get("method"), context.get("url")])) or "-"

    @admin.display(description=_("changes"))
    def changes(self, event):
        rows = _changes(event)
        if not rows:
            return "-"
        return format_html(
            "<table class='audit-changes'>{}</table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td><td>→ {}</td></tr>", rows),
        )
