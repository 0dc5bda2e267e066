"""HQ's view of orders from every channel, promotions, returns, refunds and store credit. Orders,
payments, refunds and ledgers change only through the services (the POS, the API, the jobs)."""

import json

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from omo.core.admin_helpers import ReadOnlyAdmin, ReadOnlyInline
from omo.core.errors import ApplicationError
from orders import inbound
from orders.models import (
    Fulfilment,
    FulfilmentLine,
    InboundOrder,
    LineDiscount,
    MarketplaceSettings,
    MarketplaceSku,
    Order,
    OrderAllocation,
    OrderLine,
    OrderStatusChange,
    Payment,
    Promotion,
    Refund,
    Return,
    ReturnLine,
    StoreCreditAccount,
    StoreCreditEntry,
)


@admin.register(Promotion)
class PromotionAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "percent",
        "amount",
        "min_spend",
        "min_quantity",
        "starts_at",
        "ends_at",
        "is_active",
    ]
    list_filter = ["kind", "is_active", "channels", "stores"]
    search_fields = ["name"]
    filter_horizontal = ["categories", "channels", "stores"]


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = [
        "sku",
        "name",
        "quantity",
        "unit_price",
        "discount",
        "net",
        "tax",
        "points_redeemed",
        "fulfilled_quantity",
        "returned_quantity",
        "refunded_amount",
    ]


class PaymentInline(ReadOnlyInline):
    model = Payment
    fields = [
        "tender",
        "amount",
        "status",
        "refunded_amount",
        "provider_reference",
        "created_at",
        "captured_at",
        "created_by",
    ]


class HistoryInline(ReadOnlyInline):
    model = OrderStatusChange
    fields = ["at", "from_status", "to_status", "by", "by_channel", "note"]


class FulfilmentInline(ReadOnlyInline):
    model = Fulfilment
    fields = ["at", "kind", "location", "tracking", "by"]


class RefundInline(ReadOnlyInline):
    model = Refund
    fk_name = "order"
    fields = ["created_at", "tender", "amount", "status", "ret", "provider_reference"]


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    """Every channel's orders in one list, with lines, payments, fulfilment, refunds and the history."""

    list_display = [
        "number",
        "placed_at",
        "channel",
        "store",
        "member",
        "fulfilment",
        "status",
        "total",
        "paid_total",
        "refunded_total",
    ]
    list_filter = ["status", "channel", "fulfilment", "store"]
    search_fields = ["=number", "=member__member_no", "=pickup_code"]
    list_select_related = ["channel", "store", "member"]
    date_hierarchy = "placed_at"
    inlines = [OrderLineInline, PaymentInline, FulfilmentInline, RefundInline, HistoryInline]
    exclude = ["idempotency_key"]


@admin.register(OrderLine)
class OrderLineAdmin(ReadOnlyAdmin):
    list_display = [
        "order",
        "sku",
        "quantity",
        "unit_price",
        "discount",
        "net",
        "fulfilled_quantity",
        "returned_quantity",
    ]
    search_fields = ["=order__number", "=sku"]
    list_select_related = ["order"]


@admin.register(LineDiscount)
class LineDiscountAdmin(ReadOnlyAdmin):
    list_display = ["line", "source", "label", "amount"]
    list_filter = ["source"]
    search_fields = ["=line__order__number", "label"]
    list_select_related = ["line__order"]


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "order", "tender", "amount", "status", "refunded_amount", "created_by"]
    list_filter = ["tender", "status"]
    search_fields = ["=order__number", "=provider_reference"]
    list_select_related = ["order", "created_by"]


@admin.register(OrderStatusChange)
class OrderStatusChangeAdmin(ReadOnlyAdmin):
    list_display = ["at", "order", "from_status", "to_status", "by", "by_channel", "note"]
    list_filter = ["to_status"]
    search_fields = ["=order__number"]
    list_select_related = ["order", "by", "by_channel"]


class FulfilmentLineInline(ReadOnlyInline):
    model = FulfilmentLine
    fields = ["line", "quantity", "lots"]


@admin.register(Fulfilment)
class FulfilmentAdmin(ReadOnlyAdmin):
    list_display = ["at", "order", "kind", "location", "tracking", "by"]
    list_filter = ["kind", "location"]
    search_fields = ["=order__number", "=tracking"]
    list_select_related = ["order", "location", "by"]
    inlines = [FulfilmentLineInline]


@admin.register(FulfilmentLine)
class FulfilmentLineAdmin(ReadOnlyAdmin):
    list_display = ["fulfilment", "line", "quantity"]
    search_fields = ["=fulfilment__order__number"]
    list_select_related = ["fulfilment__order", "line"]


@admin.register(OrderAllocation)
class OrderAllocationAdmin(ReadOnlyAdmin):
    list_display = ["line", "location", "quantity", "fulfilled", "transfer"]
    list_filter = ["location"]
    search_fields = ["=line__order__number"]
    list_select_related = ["line__order", "location", "transfer"]


class ReturnLineInline(ReadOnlyInline):
    model = ReturnLine
    fields = ["line", "quantity", "amount", "disposition", "location"]


@admin.register(Return)
class ReturnAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "number", "order", "channel", "store", "refund_to", "amount", "created_by"]
    list_filter = ["channel", "store", "refund_to"]
    search_fields = ["=number", "=order__number"]
    list_select_related = ["order", "channel", "store", "created_by"]
    inlines = [ReturnLineInline]
    exclude = ["idempotency_key"]


@admin.register(ReturnLine)
class ReturnLineAdmin(ReadOnlyAdmin):
    list_display = ["ret", "line", "quantity", "amount", "disposition", "location"]
    list_filter = ["disposition"]
    search_fields = ["=ret__number"]
    list_select_related = ["ret", "line", "location"]


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "order", "ret", "tender", "amount", "status", "attempts"]
    list_filter = ["status", "tender"]
    search_fields = ["=order__number", "=provider_reference"]
    list_select_related = ["order", "ret"]


class StoreCreditEntryInline(ReadOnlyInline):
    model = StoreCreditEntry
    fields = ["at", "amount", "balance_after", "reference", "by"]


@admin.register(StoreCreditAccount)
class StoreCreditAccountAdmin(ReadOnlyAdmin):
    list_display = ["member", "balance"]
    search_fields = ["=member__member_no"]
    list_select_related = ["member"]
    inlines = [StoreCreditEntryInline]


@admin.register(StoreCreditEntry)
class StoreCreditEntryAdmin(ReadOnlyAdmin):
    list_display = ["at", "account", "amount", "balance_after", "reference", "by"]
    search_fields = ["=reference", "=account__member__member_no"]
    list_select_related = ["account__member", "by"]


# --- orders coming in from marketplaces ---------------------------------------------------------------


@admin.register(MarketplaceSettings)
class MarketplaceSettingsAdmin(admin.ModelAdmin):
    """A marketplace channel set up to send its orders in: the signing secret to give its connector."""

    list_display = ["channel", "created_at", "rotated_at", "rotated_by", "previous_secret_until"]
    list_select_related = ["channel", "rotated_by"]
    search_fields = ["channel__code", "channel__name"]
    readonly_fields = ["secret", "previous_secret_until", "rotated_at", "rotated_by", "created_by", "created_at"]
    actions = ["rotate_secret"]

    def get_fields(self, request, obj=None):
        return ["channel"] if obj is None else ["channel", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["channel", *self.readonly_fields]

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing on the page changes by hand: the secret rotates with the action
        created = inbound.marketplace_settings_create(channel=obj.channel, actor=request.user)
        obj.pk, obj.secret, obj.created_at = created.pk, created.secret, created.created_at

    @admin.action(description=_("Rotate the signing secret (the old one works 24 more hours)"), permissions=["change"])
    def rotate_secret(self, request, queryset):
        for row in queryset:
            inbound.marketplace_secret_rotate(settings_row=row, actor=request.user)
        self.message_user(request, _("New secrets made: give them to the marketplaces' connectors."), messages.WARNING)


@admin.register(MarketplaceSku)
class MarketplaceSkuAdmin(admin.ModelAdmin):
    """A marketplace's own SKUs mapped to ours; an order waiting for an unknown SKU is retried after."""

    list_display = ["marketplace_sku", "channel", "variant", "created_at"]
    list_filter = ["channel"]
    search_fields = ["marketplace_sku", "=variant__sku"]
    list_select_related = ["channel", "variant"]
    autocomplete_fields = ["variant"]


@admin.register(InboundOrder)
class InboundOrderAdmin(admin.ModelAdmin):
    """The marketplaces' orders as they came in, and the review queue: orders a marketplace sent that
    could not become orders (unknown SKU, no stock...). Fix the catalog (map the SKU, create or activate
    the variant, receive stock), then retry; or reject with a reason. Changed only by these actions."""

    list_display = [
        "received_at",
        "channel",
        "marketplace_order_id",
        "status",
        "order_link",
        "problem_list",
        "attempts",
        "last_attempt_at",
        "rejected_by",
    ]
    list_filter = ["status", "channel"]
    search_fields = ["=marketplace_order_id", "=order__number"]
    list_select_related = ["channel", "order", "rejected_by"]
    date_hierarchy = "received_at"
    actions = ["retry", "reject"]
    fields = [
        "channel",
        "marketplace_order_id",
        "status",
        "order_link",
        "problem_list",
        "marketplace_placed_at",
        "received_at",
        "attempts",
        "last_attempt_at",
        "last_attempt_by",
        "rejected_at",
        "rejected_by",
        "reject_reason",
        "payload_pretty",
        "fingerprint",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # the actions need the change permission; a record's page stays read-only
        return obj is None and super().has_change_permission(request)

    @admin.display(description=_("order"), ordering="order__number")
    def order_link(self, obj):
        if not obj.order_id:
            return "-"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:orders_order_change", args=[obj.order_id]), obj.order.number
        )

    @admin.display(description=_("problems"))
    def problem_list(self, obj):
        if not obj.problems:
            return "-"
        items = []
        for problem in obj.problems:
            sku = (problem.get("details") or {}).get("sku") if problem.get("code") == "unknown_sku" else None
            link = ""
            if sku:
                url = (
                    reverse("admin:orders_marketplacesku_add")
                    + "?"
                    + urlencode({"channel": obj.channel_id, "marketplace_sku": sku})
                )
                link = format_html(' <a href="{}">{}</a>', url, _("map it"))
            items.append((problem.get("code", ""), problem.get("message", ""), link))
        return format_html("<ul>{}</ul>", format_html_join("", "<li><code>{}</code> {}{}</li>", items))

    @admin.display(description=_("order as received"))
    def payload_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, ensure_ascii=False))

    @admin.action(description=_("Retry the selected orders waiting for review"), permissions=["change"])
    def retry(self, request, queryset):
        placed, waiting, refused = [], [], []
        for record in queryset.filter(status=InboundOrder.Status.REVIEW).order_by("pk"):
            try:
                record = inbound.inbound_order_retry(record=record, actor=request.user)
            except ApplicationError as error:
                refused.append(f"{record.marketplace_order_id}: {error.message}")
                continue
            if record.status == InboundOrder.Status.PLACED:
                placed.append(record.marketplace_order_id)
            else:
                waiting.append(f"{record.marketplace_order_id}: {record.problems[0]['message']}")
        if placed:
            self.message_user(request, _("Placed: %(ids)s.") % {"ids": ", ".join(placed)}, messages.SUCCESS)
        for line in waiting:
            self.message_user(request, _("Still waiting: %(why)s") % {"why": line}, messages.WARNING)
        for line in refused:
            self.message_user(request, line, messages.ERROR)
        if not (placed or waiting or refused):
            self.message_user(request, _("None of the selected orders is waiting for review."), messages.INFO)

    @admin.action(
        description=_("Reject the selected orders waiting for review (with a reason)"), permissions=["change"]
    )
    def reject(self, request, queryset):
        """Asks for the reason on a page of its own, then rejects each order, recording who and when."""
        records = queryset.filter(status=InboundOrder.Status.REVIEW).select_related("channel").order_by("pk")
        reason = (request.POST.get("reason") or "").strip()
        if "apply" in request.POST and reason:
            done = 0
            for record in records:
                try:
                    inbound.inbound_order_reject(record=record, actor=request.user, reason=reason)
                    done += 1
                except ApplicationError as error:
                    self.message_user(request, f"{record.marketplace_order_id}: {error.message}", messages.ERROR)
            self.message_user(request, _("%(n)d orders rejected.") % {"n": done}, messages.SUCCESS)
            return None
        if not records:
            self.message_user(request, _("None of the selected orders is waiting for review."), messages.INFO)
            return None
        return TemplateResponse(
            request,
            "admin/orders/inboundorder/reject.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Reject marketplace orders"),
                "opts": self.model._meta,
                "records": records,
                "missing_reason": "apply" in request.POST,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )
