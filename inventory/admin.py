"""HQ admin for the stock pool. Stock changes only through the services: levels and the ledger are
read-only here; transfers, receipts and counts move through their workflow actions."""

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from inventory import feeds, services
from inventory.models import (
    ChannelAllocation,
    ChannelLocation,
    ChannelStockBuffer,
    ChannelStockFeed,
    ChannelStockPublished,
    GoodsReceipt,
    GoodsReceiptLine,
    Lot,
    LotStock,
    Reservation,
    SkuCost,
    StockCount,
    StockCountLine,
    StockFeedDirty,
    StockFeedReconciliation,
    StockLevel,
    StockMovement,
    Transfer,
    TransferLine,
    TransferLineLot,
)
from omo.core.admin_helpers import ReadOnlyAdmin
from omo.core.errors import ApplicationError


def workflow_action(name: str, description, done_message, service):
    """An admin action running ``service(obj, user)`` on each selected row (see ``run_action``)."""

    def action(model_admin, request, queryset):
        run_action(model_admin, request, queryset, lambda obj: service(obj, request.user), done_message)

    action.__name__ = name
    return admin.action(description=description)(action)


def run_action(model_admin, request, queryset, action, done_message):
    """Runs a workflow service per selected row, reporting each refusal instead of failing the page."""
    done = 0
    for obj in queryset:
        try:
            action(obj)
            done += 1
        except ApplicationError as error:
            model_admin.message_user(request, f"{obj}: {error.message}", messages.ERROR)
    if done:
        model_admin.message_user(request, done_message % {"n": done}, messages.SUCCESS)


@admin.register(StockLevel)
class StockLevelAdmin(admin.ModelAdmin):
    list_display = [
        "variant",
        "location",
        "on_hand",
        "reserved",
        "safety_stock",
        "atp",
        "min_level",
        "max_level",
        "updated_at",
    ]
    list_filter = ["location", "location__kind"]
    search_fields = ["variant__sku", "variant__product__name", "location__code"]
    list_select_related = ["variant", "location"]
    readonly_fields = ["variant", "location", "on_hand", "reserved", "updated_at"]
    fields = ["variant", "location", "on_hand", "reserved", "safety_stock", "min_level", "max_level", "updated_at"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("ATP"))
    def atp(self, obj):
        return obj.atp

    def save_model(self, request, obj, form, change):
        services.stock_level_configure(
            variant=obj.variant,
            location=obj.location,
            actor=request.user,
            safety_stock=obj.safety_stock,
            min_level=obj.min_level,
            max_level=obj.max_level,
        )


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdmin):
    """The ledger: append-only, so read-only here (corrections are new adjustment movements)."""

    list_display = [
        "created_at",
        "kind",
        "variant",
        "location",
        "quantity",
        "on_hand_after",
        "lot",
        "reference_type",
        "reference_id",
        "created_by",
    ]
    list_filter = ["kind", "location", "reference_type"]
    search_fields = ["variant__sku", "reference_id", "reason"]
    list_select_related = ["variant", "location", "lot", "created_by"]
    date_hierarchy = "created_at"


@admin.register(Lot)
class LotAdmin(admin.ModelAdmin):
    list_display = ["code", "variant", "expiry_date", "created_at"]
    list_filter = ["expiry_date"]
    search_fields = ["code", "variant__sku"]
    list_select_related = ["variant"]
    readonly_fields = ["variant", "code", "expiry_date", "created_at"]

    def has_add_permission(self, request):
        return False  # lots arrive with goods receipts


@admin.register(LotStock)
class LotStockAdmin(ReadOnlyAdmin):
    list_display = ["lot", "expiry", "location", "on_hand"]
    list_filter = ["location", "lot__expiry_date"]
    search_fields = ["lot__code", "lot__variant__sku"]
    list_select_related = ["lot", "location"]

    @admin.display(description=_("expiry date"), ordering="lot__expiry_date")
    def expiry(self, obj):
        return obj.lot.expiry_date


@admin.register(SkuCost)
class SkuCostAdmin(ReadOnlyAdmin):
    list_display = ["variant", "average_cost", "updated_at"]
    search_fields = ["variant__sku"]
    list_select_related = ["variant"]


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_display = ["reference", "variant", "location", "quantity", "status", "channel", "expires_at", "created_at"]
    list_filter = ["status", "channel", "location"]
    search_fields = ["reference", "variant__sku"]
    list_select_related = ["variant", "location", "channel"]
    actions = ["release"]

    @admin.action(description=_("Release the selected reservations' references"))
    def release(self, request, queryset):
        references = sorted(set(queryset.filter(status="active").values_list("reference", flat=True)))
        run_action(
            self,
            request,
            references,
            lambda ref: services.reservation_release(reference=ref),
            _("Released %(n)d references."),
        )

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("inventory.change_reservation")


@admin.register(ChannelLocation)
class ChannelLocationAdmin(admin.ModelAdmin):
    list_display = ["channel", "location", "priority", "ships", "offers_pickup"]
    list_filter = ["channel", "ships", "offers_pickup"]
    search_fields = ["channel__code", "location__code"]
    list_select_related = ["channel", "location"]
    list_editable = ["priority", "ships", "offers_pickup"]

    # which locations serve a channel decides what its stock feed says: republish it after a change
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        feeds.stock_feed_republish_later(obj.channel_id)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        feeds.stock_feed_republish_later(obj.channel_id)

    def delete_queryset(self, request, queryset):
        channel_ids = set(queryset.values_list("channel_id", flat=True))
        super().delete_queryset(request, queryset)
        for channel_id in sorted(channel_ids):
            feeds.stock_feed_republish_later(channel_id)


@admin.register(ChannelAllocation)
class ChannelAllocationAdmin(admin.ModelAdmin):
    list_display = ["channel", "strategy"]
    list_select_related = ["channel"]
    search_fields = ["channel__code"]


class TransferLineInline(admin.TabularInline):
    model = TransferLine
    extra = 0
    fields = ["variant", "quantity_requested", "quantity_shipped", "quantity_received", "discrepancy_note"]
    readonly_fields = ["quantity_shipped", "quantity_received", "discrepancy_note"]
    autocomplete_fields = ["variant"]

    def _open(self, obj) -> bool:
        return obj is None or obj.status == Transfer.Status.REQUESTED

    def has_add_permission(self, request, obj=None):
        return self._open(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._open(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return (
            obj is not None and obj.status == Transfer.Status.REQUESTED and super().has_delete_permission(request, obj)
        )


class TransferForm(forms.ModelForm):
    class Meta:
        model = Transfer
        fields = ["origin", "destination", "note"]

    def clean(self):
        data = super().clean()
        if data.get("origin") and data.get("origin") == data.get("destination"):
            raise forms.ValidationError(_("A transfer goes between two different locations."))
        return data


@admin.register(Transfer)
class TransferAdmin(admin.ModelAdmin):
    """Transfers move only through their workflow: created by ``transfer_request`` with their lines,
    then approved, shipped, received or cancelled by the actions. Never deleted (the ledger points at
    them)."""

    form = TransferForm
    list_display = [
        "__str__",
        "origin",
        "destination",
        "status",
        "kind",
        "requested_by",
        "requested_at",
        "shipped_at",
        "received_at",
    ]
    list_filter = ["status", "kind", "origin", "destination"]
    search_fields = ["id", "note", "lines__variant__sku"]
    list_select_related = ["origin", "destination", "requested_by"]
    inlines = [TransferLineInline]
    readonly_fields = [
        "status",
        "kind",
        "requested_by",
        "requested_at",
        "approved_by",
        "approved_at",
        "shipped_by",
        "shipped_at",
        "received_by",
        "received_at",
        "cancelled_by",
        "cancelled_at",
    ]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "origin", "destination"] if obj else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)  # the note only: the rest is read-only

    def save_related(self, request, form, formsets, change):
        if change:
            return super().save_related(request, form, formsets, change)
        lines = [
            (line.cleaned_data["variant"], line.cleaned_data["quantity_requested"])
            for formset in formsets
            for line in formset.forms
            if line.cleaned_data and not line.cleaned_data.get("DELETE")
        ]
        transfer = services.transfer_request(
            origin=form.cleaned_data["origin"],
            destination=form.cleaned_data["destination"],
            lines=lines,
            actor=request.user,
            note=form.cleaned_data.get("note", ""),
        )
        form.instance.pk = transfer.pk
        for formset in formsets:  # the lines were saved by the service; the change message reads these
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        return None

    actions = [
        workflow_action(
            "approve",
            _("Approve"),
            _("Approved %(n)d transfers."),
            lambda transfer, user: services.transfer_approve(transfer=transfer, actor=user),
        ),
        workflow_action(
            "ship",
            _("Ship everything requested"),
            _("Shipped %(n)d transfers."),
            lambda transfer, user: services.transfer_ship(transfer=transfer, actor=user),
        ),
        workflow_action(
            "receive_as_shipped",
            _("Receive as shipped"),
            _("Received %(n)d transfers."),
            lambda transfer, user: services.transfer_receive(transfer=transfer, actor=user),
        ),
        workflow_action(
            "cancel",
            _("Cancel"),
            _("Cancelled %(n)d transfers."),
            lambda transfer, user: services.transfer_cancel(transfer=transfer, actor=user),
        ),
    ]


@admin.register(TransferLine)
class TransferLineAdmin(ReadOnlyAdmin):
    list_display = ["transfer", "variant", "quantity_requested", "quantity_shipped", "quantity_received"]
    search_fields = ["variant__sku"]
    list_select_related = ["transfer", "variant"]


@admin.register(TransferLineLot)
class TransferLineLotAdmin(ReadOnlyAdmin):
    list_display = ["line", "lot", "quantity"]
    search_fields = ["lot__code"]
    list_select_related = ["line", "lot"]


class GoodsReceiptLineInline(admin.TabularInline):
    model = GoodsReceiptLine
    extra = 1
    fields = ["variant", "quantity", "unit_cost", "lot_code", "expiry_date"]
    autocomplete_fields = ["variant"]

    def has_change_permission(self, request, obj=None):
        return (obj is None or obj.status == GoodsReceipt.Status.DRAFT) and super().has_change_permission(request, obj)

    def has_add_permission(self, request, obj=None):
        return (obj is None or obj.status == GoodsReceipt.Status.DRAFT) and super().has_add_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return (
            obj is not None and obj.status == GoodsReceipt.Status.DRAFT and super().has_delete_permission(request, obj)
        )


@admin.register(GoodsReceipt)
class GoodsReceiptAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "location",
        "supplier",
        "supplier_reference",
        "status",
        "created_at",
        "posted_at",
        "posted_by",
    ]
    list_filter = ["status", "location"]
    search_fields = ["supplier", "supplier_reference", "lines__variant__sku"]
    list_select_related = ["location", "posted_by"]
    inlines = [GoodsReceiptLineInline]
    actions = ["post"]
    readonly_fields = ["status", "created_by", "created_at", "posted_by", "posted_at"]

    def has_change_permission(self, request, obj=None):
        return (obj is None or obj.status == GoodsReceipt.Status.DRAFT) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return (obj is None or obj.status == GoodsReceipt.Status.DRAFT) and super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    post = workflow_action(
        "post",
        _("Post: put the goods on hand"),
        _("Posted %(n)d goods receipts."),
        lambda receipt, user: services.goods_receipt_post(receipt=receipt, actor=user),
    )


@admin.register(GoodsReceiptLine)
class GoodsReceiptLineAdmin(ReadOnlyAdmin):
    list_display = ["receipt", "variant", "quantity", "unit_cost", "lot_code", "expiry_date"]
    search_fields = ["variant__sku", "lot_code"]
    list_select_related = ["receipt", "variant"]


class StockCountLineInline(admin.TabularInline):
    model = StockCountLine
    extra = 0
    fields = ["variant", "lot", "expected", "counted", "variance"]
    readonly_fields = ["variant", "lot", "expected", "variance"]

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=_("variance"))
    def variance(self, obj):
        return obj.variance


@admin.register(StockCount)
class StockCountAdmin(admin.ModelAdmin):
    list_display = ["__str__", "location", "status", "created_by", "created_at", "posted_by", "posted_at"]
    list_filter = ["status", "location"]
    search_fields = ["note", "location__code"]
    list_select_related = ["location", "created_by", "posted_by"]
    inlines = [StockCountLineInline]
    actions = ["post"]
    readonly_fields = ["status", "created_by", "created_at", "posted_by", "posted_at"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "location"] if obj else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        return (obj is None or obj.status == StockCount.Status.COUNTING) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
        else:
            obj.pk = services.stock_count_start(location=obj.location, actor=request.user, note=obj.note).pk

    def save_formset(self, request, form, formset, change):
        lines = formset.save(commit=False)
        counted = {line.pk: line.counted for line in lines if line.counted is not None}
        if counted:
            try:
                services.stock_count_record(count=form.instance, actor=request.user, counted=counted)
            except ApplicationError as error:
                self.message_user(request, error.message, messages.ERROR)

    post = workflow_action(
        "post",
        _("Post the variances as adjustments"),
        _("Posted %(n)d stock counts."),
        lambda count, user: services.stock_count_post(count=count, actor=user),
    )


@admin.register(StockCountLine)
class StockCountLineAdmin(ReadOnlyAdmin):
    list_display = ["count", "variant", "lot", "expected", "counted"]
    search_fields = ["variant__sku"]
    list_select_related = ["count", "variant", "lot"]


# --- channel stock feeds -----------------------------------------------------------------------------


class ChannelStockBufferInline(admin.TabularInline):
    model = ChannelStockBuffer
    extra = 0
    fields = ["variant", "buffer"]
    autocomplete_fields = ["variant"]


@admin.register(ChannelStockFeed)
class ChannelStockFeedAdmin(admin.ModelAdmin):
    """Which channels are sent their sellable quantity per SKU, and how many units each holds back.
    A change is published to the channel at once (a republish after saving)."""

    list_display = ["channel", "enabled", "buffer", "updated_at"]
    list_filter = ["enabled"]
    list_select_related = ["channel"]
    search_fields = ["channel__code", "channel__name"]
    inlines = [ChannelStockBufferInline]
    actions = ["republish"]

    def get_readonly_fields(self, request, obj=None):
        return ["channel"] if obj else []

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        feeds.stock_feed_republish_later(form.instance.channel_id)

    @admin.action(description=_("Publish the selected channels' quantities now"))
    def republish(self, request, queryset):
        run_action(
            self,
            request,
            queryset.select_related("channel"),
            lambda feed: feeds.stock_feed_republish(channel=feed.channel),
            _("Republished %(n)d channel stock feeds."),
        )


@admin.register(ChannelStockBuffer)
class ChannelStockBufferAdmin(admin.ModelAdmin):
    """Every SKU's own buffer on every channel (edited on its channel's feed)."""

    list_display = ["feed", "variant", "buffer"]
    list_filter = ["feed"]
    search_fields = ["variant__sku", "feed__channel__code"]
    list_select_related = ["feed__channel", "variant"]
    autocomplete_fields = ["variant"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        feeds.stock_feed_republish_later(obj.feed.channel_id)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        feeds.stock_feed_republish_later(obj.feed.channel_id)

    def delete_queryset(self, request, queryset):
        channel_ids = set(queryset.values_list("feed__channel_id", flat=True))
        super().delete_queryset(request, queryset)
        for channel_id in sorted(channel_ids):
            feeds.stock_feed_republish_later(channel_id)


@admin.register(StockFeedDirty)
class StockFeedDirtyAdmin(ReadOnlyAdmin):
    """SKUs whose channel quantities are about to be worked out again (normally empty within seconds)."""

    list_display = ["variant", "due_at"]
    search_fields = ["variant__sku"]
    list_select_related = ["variant"]


@admin.register(ChannelStockPublished)
class ChannelStockPublishedAdmin(ReadOnlyAdmin):
    """What each channel was last told it may sell (read-only: the feed writes it)."""

    list_display = ["channel", "variant", "quantity", "published_at"]
    list_filter = ["channel"]
    search_fields = ["variant__sku", "channel__code"]
    list_select_related = ["channel", "variant"]
    date_hierarchy = "published_at"


@admin.register(StockFeedReconciliation)
class StockFeedReconciliationAdmin(ReadOnlyAdmin):
    """The nightly checks of the channels' published quantities, and the drift they corrected."""

    list_display = ["started_at", "finished", "channel_list", "skus_checked", "drift_count"]
    fields = ["started_at", "finished_at", "channel_list", "skus_checked", "drift_count", "drift_table"]
    readonly_fields = fields
    date_hierarchy = "started_at"

    @admin.display(description=_("finished"), ordering="finished_at")
    def finished(self, obj):
        return obj.finished_at or _("not finished")

    @admin.display(description=_("channels"))
    def channel_list(self, obj):
        return ", ".join(obj.channels or [])

    @admin.display(description=_("drifts"))
    def drift_table(self, obj):
        if not obj.drifts:
            return "-"
        header = format_html(
            "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            _("channel"),
            _("SKU"),
            _("published"),
            _("should have been"),
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (d.get("channel"), d.get("sku"), "-" if d.get("published") is None else d["published"], d.get("actual"))
                for d in obj.drifts
            ),
        )
        more = obj.drift_count - len(obj.drifts)
        tail = format_html("<p>{}</p>", _("... and %(n)d more.") % {"n": more}) if more > 0 else ""
        return format_html("<table>{}{}</table>{}", header, rows, tail)
