"""HQ's view of orders from every channel, promotions, returns, refunds and store credit. Orders,
payments, refunds and ledgers change only through the services (the POS, the API, the jobs)."""

from django.contrib import admin

from omo.core.admin_helpers import ReadOnlyAdmin
from orders.models import (
    Fulfilment,
    FulfilmentLine,
    LineDiscount,
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


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    max_num = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields


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
