"""The audit trail: a PostgreSQL trigger on each table of money, stock, points, coupons and commission
writes an event row for every change, however it was made (a service, a bulk ``QuerySet.update()``,
raw SQL in psql), with who made it (``pgh_context``: the user and URL of the request, or the Celery
job or management command) and when.

Built on django-pghistory: one event model per tracked table, all in this app. An update event keeps
the row after the change and, in ``audit_before``, the tracked values before it; a delete event keeps
the row as it was. Event rows cannot be changed or deleted (a trigger refuses it).

Not tracked here, on purpose:
- the ledgers' inserts (``StockMovement``, ``PointsEntry``, ``StoreCreditEntry``, ``AttributionLine``,
  ``CouponRedemption``, ``Refund`` is tracked): the new row is itself the record, with its author and
  time; their updates and deletes are tracked, and ``StockMovement`` and ``AttributionLine`` already
  refuse them with their own triggers;
- ``StockLevel.reserved``: it follows the ``Reservation`` rows and changes on every cart, so an event
  per change would be paid on the flash-sale hot row; ``on_hand`` and ``safety_stock`` are tracked;
- a member's profile: only ``points_balance`` is tracked on ``Member``.

Triggers exist on PostgreSQL only; on SQLite the event tables are created and stay empty.
"""

from __future__ import annotations

import pghistory
import pgtrigger
from django.conf import settings
from django.db import models
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from pghistory import trigger as pgh_trigger
from pghistory.models import Events

from attribution.models import Policy, SettlementAdjustment, SettlementLine, SettlementPeriod
from catalog.models import VariantPrice
from inventory.models import SkuCost, StockLevel
from members.models import (
    Coupon,
    CouponCampaign,
    CouponRedemption,
    Member,
    PointsEntry,
    PointsLot,
    WalletCoupon,
)
from orders.models import Order, Payment, Promotion, Refund, StoreCreditAccount, StoreCreditEntry


class AuditEventBase(pghistory.models.Event):
    """What every event table has beyond pghistory's own columns."""

    audit_before = models.JSONField(
        _("before"), null=True, blank=True, help_text=_("On an update: the tracked values before it.")
    )

    class Meta:
        abstract = True


class _UpdateTrigger(pgh_trigger.Event):
    """pghistory's event trigger, which also writes the old values of the tracked columns into
    ``audit_before``, so each update event shows before and after without looking for an earlier
    event (there is none for rows that existed before tracking began, or whose insert is not
    tracked)."""

    def get_func(self, model):
        func = super().get_func(model)
        table = self.event_model._meta.db_table
        tracked = {f.name for f in self.event_model.pgh_tracked_model._meta.fields}
        columns = [
            f.column
            for f in self.event_model._meta.fields
            if f.name in tracked and f.concrete and not isinstance(f, models.AutoField)
        ]
        previous = "jsonb_build_object(" + ", ".join(f"'{c}', OLD.\"{c}\"" for c in columns) + ")"
        head = f'INSERT INTO "{table}" ('
        sql = func.func
        values_at = sql.index(") VALUES (") + len(") VALUES (")
        sql = sql[:values_at] + previous + ", " + sql[values_at:]
        sql = sql.replace(head, head + '"audit_before", ', 1)
        return pgtrigger.Func(sql)


class UpdateEvent(pghistory.UpdateEvent):
    def add_event_trigger(self, event_model):
        pgtrigger.register(
            _UpdateTrigger(
                event_model=event_model,
                label=self.label,
                name=self.trigger_name,
                row=self.row,
                operation=self.operation,
                condition=self.condition,
                level=self.level,
            )
        )(event_model.pgh_tracked_model)


INSERT, UPDATE, DELETE = "insert", "update", "delete"


def _events(tracked, *operations, fields=None):
    """An event model in this app for ``tracked``: its trigger writes a row on each of ``operations``
    (an update only when a tracked field changed)."""
    trackers = {
        INSERT: lambda: pghistory.InsertEvent(trigger_name="audit_insert"),
        UPDATE: lambda: UpdateEvent(trigger_name="audit_update"),
        DELETE: lambda: pghistory.DeleteEvent(trigger_name="audit_delete"),
    }
    name = f"{tracked.__name__}Event"
    verbose = tracked._meta.verbose_name
    return pghistory.create_event_model(
        tracked,
        *(trackers[operation]() for operation in operations),
        fields=fields,
        exclude=None if fields else [f.name for f in tracked._meta.fields if getattr(f, "auto_now", False)],
        model_name=name,
        app_label="audit",
        base_model=AuditEventBase,
        # the tracked row's own foreign keys are kept as plain columns: no index to pay on each event
        obj_field=pghistory.ObjForeignKey(db_index=True),
        context_field=pghistory.ContextJSONField(),
        append_only=True,
        abstract=False,
        meta={
            "verbose_name": format_lazy(_("change of {model}"), model=verbose),
            "verbose_name_plural": format_lazy(_("changes of {model}"), model=verbose),
            "default_permissions": ("view",),
        },
    )


ALL = (INSERT, UPDATE, DELETE)
CHANGES = (UPDATE, DELETE)

# catalog: prices
VariantPriceEvent = _events(VariantPrice, *ALL)
# inventory: stock and cost
StockLevelEvent = _events(StockLevel, *ALL, fields=["variant", "location", "on_hand", "safety_stock"])
SkuCostEvent = _events(SkuCost, *CHANGES)
# members: points and coupons
MemberEvent = _events(Member, *CHANGES, fields=["points_balance"])
PointsLotEvent = _events(PointsLot, *CHANGES)
PointsEntryEvent = _events(PointsEntry, *CHANGES)
CouponCampaignEvent = _events(CouponCampaign, *ALL)
CouponEvent = _events(Coupon, *CHANGES)
WalletCouponEvent = _events(WalletCoupon, *CHANGES)
CouponRedemptionEvent = _events(CouponRedemption, *CHANGES)
# orders: money
ORDER_MONEY = [
    "number",
    "subtotal",
    "discount_total",
    "total",
    "tax_total",
    "tax_rate",
    "shipping_fee",
    "points_redeemed",
    "points_earned",
    "coupon_code",
    "paid_total",
    "refunded_total",
]
OrderEvent = _events(Order, *CHANGES, fields=ORDER_MONEY)
PaymentEvent = _events(Payment, *CHANGES)
RefundEvent = _events(Refund, *ALL)
StoreCreditAccountEvent = _events(StoreCreditAccount, *ALL)
StoreCreditEntryEvent = _events(StoreCreditEntry, *CHANGES)
PromotionEvent = _events(Promotion, *ALL)
# attribution: commission
PolicyEvent = _events(Policy, *ALL)
SettlementPeriodEvent = _events(SettlementPeriod, *ALL)
SettlementLineEvent = _events(SettlementLine, *CHANGES)
SettlementAdjustmentEvent = _events(SettlementAdjustment, *ALL)

TRACKED = [
    VariantPriceEvent,
    StockLevelEvent,
    SkuCostEvent,
    MemberEvent,
    PointsLotEvent,
    PointsEntryEvent,
    CouponCampaignEvent,
    CouponEvent,
    WalletCouponEvent,
    CouponRedemptionEvent,
    OrderEvent,
    PaymentEvent,
    RefundEvent,
    StoreCreditAccountEvent,
    StoreCreditEntryEvent,
    PromotionEvent,
    PolicyEvent,
    SettlementPeriodEvent,
    SettlementLineEvent,
    SettlementAdjustmentEvent,
]


class AuditEvent(Events):
    """Every event of every tracked table in one list (pghistory's aggregate over the event tables),
    with the user, URL, job and command of its context. Read-only; PostgreSQL only."""

    user = pghistory.ProxyField(
        "pgh_context__user",
        models.ForeignKey(
            settings.AUTH_USER_MODEL,
            verbose_name=_("user"),
            on_delete=models.DO_NOTHING,
            null=True,
            related_name="+",
            db_constraint=False,
        ),
    )
    url = pghistory.ProxyField("pgh_context__url", models.TextField(_("URL"), null=True))
    job = pghistory.ProxyField("pgh_context__job", models.TextField(_("job"), null=True))
    command = pghistory.ProxyField("pgh_context__command", models.TextField(_("command"), null=True))
    channel = pghistory.ProxyField("pgh_context__channel", models.TextField(_("channel"), null=True))

    class Meta:
        proxy = True
        verbose_name = _("audit event")
        verbose_name_plural = _("audit trail")
        default_permissions = ("view",)
