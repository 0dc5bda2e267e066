from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from omo.core.admin_helpers import ReadOnlyAdmin, ReadOnlyInline
from omo.core.errors import ApplicationError
from omo.events import relay, webhooks
from omo.events.models import OutboxEvent, WebhookAttempt, WebhookDelivery, WebhookSubscription


class StateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("pending", _("Waiting")), ("published", _("Published")), ("dead", _("Dead-lettered"))]

    def queryset(self, request, queryset):
        if self.value() == "pending":
            return queryset.filter(published_at__isnull=True, dead_at__isnull=True)
        if self.value() == "published":
            return queryset.filter(published_at__isnull=False)
        if self.value() == "dead":
            return queryset.filter(dead_at__isnull=False)
        return queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "event_type", "aggregate_type", "aggregate_id", "created_at", "published_at", "attempts",
                    "dead_at"]  # fmt: skip
    list_filter = [StateFilter, "event_type", "aggregate_type"]
    search_fields = ["=aggregate_id", "event_type"]
    actions = ["replay"]

    @admin.action(description=_("Replay the selected dead-lettered events"), permissions=["replay"])
    def replay(self, request, queryset):
        done = 0
        for event in queryset.filter(dead_at__isnull=False):
            relay.event_replay(event=event, actor=request.user)
            done += 1
        self.message_user(request, _("%(n)s events replayed.") % {"n": done}, messages.SUCCESS)

    def has_replay_permission(self, request):
        return request.user.has_perm("events.change_outboxevent")


class WebhookSubscriptionForm(forms.ModelForm):
    """The service's own checks, shown on the form (a refused URL or list is an error message, not a 500)."""

    class Meta:
        model = WebhookSubscription
        fields = ["channel", "name", "url", "event_types", "is_active"]

    def _checked(self, check, name):
        try:
            return check(self.cleaned_data.get(name))
        except ApplicationError as error:
            raise forms.ValidationError(error.message, code=error.code) from None

    def clean_url(self):
        return self._checked(webhooks.clean_url, "url")

    def clean_event_types(self):
        return self._checked(webhooks.clean_event_types, "event_types")


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = ["name", "channel", "url", "event_types", "is_active", "consecutive_failures", "disabled_at",
                    "disabled_reason"]  # fmt: skip
    list_filter = ["channel", "is_active"]
    readonly_fields = ["secret", "consecutive_failures", "disabled_at", "disabled_reason", "created_by", "created_at"]
    fields = ["channel", "name", "url", "event_types", "is_active", *readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "channel"] if obj is not None else self.readonly_fields

    actions = ["enable", "pause", "rotate_secret"]

    def save_model(self, request, obj, form, change):  # the form ran the service's checks already
        if change:
            stored = WebhookSubscription.objects.get(pk=obj.pk)
            changes = {name: getattr(obj, name) for name in ("name", "url", "event_types")}
            if obj.is_active != stored.is_active:  # the checkbox pauses; re-enabling is the action
                changes["is_active"] = obj.is_active
            webhooks.subscription_update(subscription=stored, actor=request.user, **changes)
        else:
            created = webhooks.subscription_create(
                channel=obj.channel, name=obj.name, url=obj.url, event_types=obj.event_types, actor=request.user
            )
            obj.pk, obj.secret = created.pk, created.secret

    @admin.action(description=_("Enable (and send what waited)"))
    def enable(self, request, queryset):
        for sub in queryset:
            webhooks.subscription_enable(subscription=sub, actor=request.user)
        self.message_user(request, _("Enabled."), messages.SUCCESS)

    @admin.action(description=_("Pause"))
    def pause(self, request, queryset):
        for sub in queryset:
            webhooks.subscription_pause(subscription=sub, actor=request.user)
        self.message_user(request, _("Paused: events wait for it."), messages.SUCCESS)

    @admin.action(description=_("Rotate the signing secret"))
    def rotate_secret(self, request, queryset):
        for sub in queryset:
            webhooks.subscription_rotate_secret(subscription=sub, actor=request.user)
        self.message_user(request, _("New secrets made: give them to the receivers."), messages.WARNING)


class AttemptInline(ReadOnlyInline):
    model = WebhookAttempt
    fields = ["at", "response_status", "response_ms", "error"]


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(ReadOnlyAdmin):
    list_display = ["delivery", "at", "response_status", "response_ms", "error"]
    list_filter = ["response_status"]
    list_select_related = ["delivery"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "event", "subscription", "status", "attempts", "response_status", "response_ms",
                    "delivered_at", "next_attempt_at", "last_error"]  # fmt: skip
    list_filter = ["status", "subscription"]
    list_select_related = ["event", "subscription"]
    search_fields = ["=event__id", "=event__aggregate_id"]
    inlines = [AttemptInline]
    actions = ["replay"]

    @admin.action(description=_("Replay the selected dead-lettered deliveries"), permissions=["replay"])
    def replay(self, request, queryset):
        done = 0
        for delivery in queryset.filter(status=WebhookDelivery.Status.DEAD):
            webhooks.delivery_replay(delivery=delivery, actor=request.user)
            done += 1
        self.message_user(request, _("%(n)s deliveries replayed.") % {"n": done}, messages.SUCCESS)

    def has_replay_permission(self, request):
        return request.user.has_perm("events.change_webhookdelivery")
