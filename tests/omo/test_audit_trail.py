"""The audit trail (omo/audit): database triggers record every change of money, stock, points, coupons
and commission, also a bulk ``QuerySet.update()`` or raw SQL, with the values before and after and who
made it (the user of an HTTP request, the channel of an API key, the Celery job, the management
command); HQ admins and finance read it in the admin, nobody changes it."""

# ruff: noqa: F811  (the shop, policy and clock fixtures are imported from the orders and attribution tests)
from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import BaseCommand
from django.db import InternalError, connection, transaction
from django.db.models import F

from attribution.models import SettlementLine, SettlementPeriod
from inventory.models import StockLevel
from members.models import Coupon, CouponCampaign, Member, PointsLot
from omo.audit.models import (
    CouponCampaignEvent,
    CouponEvent,
    MemberEvent,
    OrderEvent,
    PaymentEvent,
    PointsLotEvent,
    RefundEvent,
    SettlementAdjustmentEvent,
    SettlementLineEvent,
    SettlementPeriodEvent,
    StockLevelEvent,
)
from omo.org.roles import Role
from orders.models import Order, Payment, Refund
from tests.attribution.conftest import DAY0, clock, counter_sale, policy  # noqa: F401  (fixtures)
from tests.conftest import client_for
from tests.factories import make_staff
from tests.orders.conftest import shared_coupon, shop  # noqa: F401  (the fixture)
from tests.orders.test_orders_api import frontend, post

ADDRESS = {"name": "林美華", "phone": "0912345678", "address": "台北市信義區松高路 1 號"}


def end_of_request_transaction():
    """In production each request's statements commit with it, and the context (a transaction-local
    setting) goes with them; a test runs in one transaction, so it clears the setting itself."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('pghistory.context_id', '', true), set_config('pghistory.context_metadata', '', true)"
        )


def events(model, obj):
    return list(model.objects.filter(pgh_obj_id=obj.pk).order_by("pgh_id"))


def last(model, obj):
    return events(model, obj)[-1]


def test_a_bulk_update_of_a_stock_level_is_recorded_with_before_and_after(require_postgres, shop):
    # given the store's T-shirt stock (received through the service: 5 on hand)
    level = StockLevel.objects.get(variant=shop.tee, location=shop.store_a)
    before = len(events(StockLevelEvent, level))

    # when someone bulk-updates it, bypassing the movement ledger
    StockLevel.objects.filter(pk=level.pk).update(on_hand=F("on_hand") + 7)

    # then the change is recorded: before 5, after 12, with no application context
    event = last(StockLevelEvent, level)
    assert len(events(StockLevelEvent, level)) == before + 1
    assert (event.pgh_label, event.on_hand, event.audit_before["on_hand"]) == ("update", 12, 5)
    assert (event.variant_id, event.location_id, event.pgh_context) == (shop.tee.pk, shop.store_a.pk, None)


def test_a_reservation_alone_writes_no_stock_event(require_postgres, shop):
    # reserved follows the Reservation rows and changes on every cart: not an audit event
    level = StockLevel.objects.get(variant=shop.tee, location=shop.store_a)
    before = len(events(StockLevelEvent, level))

    StockLevel.objects.filter(pk=level.pk).update(reserved=F("reserved") + 1)

    assert len(events(StockLevelEvent, level)) == before


def test_a_raw_sql_update_of_a_members_points_balance_is_recorded(require_postgres, shop):
    member = shop.member
    with connection.cursor() as cursor:
        cursor.execute("UPDATE members_member SET points_balance = 999 WHERE id = %s", [member.pk])
        # a profile edit is not a points change: no event
        cursor.execute("UPDATE members_member SET name = 'Someone else' WHERE id = %s", [member.pk])

    [event] = events(MemberEvent, member)
    assert (event.pgh_label, event.points_balance, event.audit_before) == ("update", 999, {"points_balance": 0})
    assert event.pgh_context is None  # raw SQL outside the application: no user, no job


def test_a_refund_made_through_the_api_records_the_clerk_and_the_money(require_postgres, shop, clerk_a):
    # given a counter sale of jeans by clerk A, paid in cash
    clerk = client_for(clerk_a)
    sale = post(clerk, "/api/v1/orders/", {"lines": [{"sku": "JEANS-M", "quantity": 1}], "fulfilment": "counter"})
    number = sale.json()["number"]
    post(clerk, f"/api/v1/orders/{number}/pay/", {"tenders": [{"tender": "cash"}]})
    order = Order.objects.get(number=number)
    payment = Payment.objects.get(order=order)

    # when the clerk takes it back
    returned = post(clerk, f"/api/v1/orders/{number}/returns/", {"lines": [{"sku": "JEANS-M", "quantity": 1}]})

    # then the refund, the payment's and the order's refunded amounts are recorded, by clerk A, at that URL
    assert returned.status_code == 201, returned.json()
    refund = Refund.objects.get(order=order)
    [created] = events(RefundEvent, refund)[:1]
    assert (created.pgh_label, created.amount, created.tender) == ("insert", Decimal("1200.00"), "cash")
    paid_back = last(PaymentEvent, payment)
    assert (paid_back.audit_before["refunded_amount"], paid_back.refunded_amount) == (0.0, Decimal("1200.00"))
    total = last(OrderEvent, order)
    assert (total.audit_before["refunded_total"], total.refunded_total) == (0.0, Decimal("1200.00"))
    for event in (created, paid_back, total):
        assert event.pgh_context == {
            "user": clerk_a.pk,
            "url": f"/api/v1/orders/{number}/returns/",
            "method": "POST",
        }
    assert created.pgh_context_id == paid_back.pgh_context_id == total.pgh_context_id  # one request


def test_a_coupon_used_online_names_the_channel_and_a_bulk_change_is_recorded(require_postgres, shop):
    # given a shared NT$100 code
    coupon = shared_coupon("SPRING100", 100)
    campaign = coupon.campaign

    # when the web shop places an order with it (an API-key call, no staff user)
    web = frontend(shop.web, shop.member)
    body = {"lines": [{"sku": "TEE-M", "quantity": 1}], "fulfilment": "ship", "coupon": "SPRING100"}
    placed = post(web, "/api/v1/orders/", {**body, "shipping_address": ADDRESS})
    assert placed.status_code == 201, placed.json()

    # then the coupon's and the campaign's use counters moved, by the web channel
    used = last(CouponEvent, coupon)
    assert (used.audit_before["times_used"], used.times_used) == (0, 1)
    assert used.pgh_context == {"user": None, "channel": "WEB", "url": "/api/v1/orders/", "method": "POST"}
    counted = last(CouponCampaignEvent, campaign)
    assert (counted.audit_before["redeemed_count"], counted.redeemed_count) == (0, 1)

    # and a bulk change of the discount (no context) is recorded with both amounts
    end_of_request_transaction()
    CouponCampaign.objects.filter(pk=campaign.pk).update(amount=Decimal("900"))
    changed = last(CouponCampaignEvent, campaign)
    assert (changed.audit_before["amount"], changed.amount, changed.pgh_context) == (100.0, Decimal("900.00"), None)
    Coupon.objects.filter(pk=coupon.pk).update(max_uses=5)
    assert (last(CouponEvent, coupon).audit_before["max_uses"], last(CouponEvent, coupon).max_uses) == (None, 5)


def test_settlement_changes_are_recorded_with_hq_and_a_sql_edit_of_a_payable(
    require_postgres, shop, policy, clock, clerk_a, hq_admin
):
    # given a month with one counter sale by clerk A, built as a draft by HQ through the API
    policy()
    clock(1)
    counter_sale(shop, clerk_a, shop.store_a, shop.member)
    clock(45)
    month = f"{DAY0:%Y-%m}"
    api = client_for(hq_admin)
    api.post("/api/v1/attribution/periods/", {"month": month}, format="json")

    # when HQ adjusts and approves it
    adjusted = api.post(
        f"/api/v1/attribution/periods/{month}/adjustments/",
        {"store": "S-A", "clerk": clerk_a.staff_profile.employee_code, "amount": "-5", "reason": "cash shortage"},
        format="json",
    ).json()
    api.post(f"/api/v1/attribution/periods/{month}/approve/", {"fingerprint": adjusted["fingerprint"]})

    # then the adjustment and the approval are recorded with HQ's user
    period = SettlementPeriod.objects.get()
    [adjustment] = SettlementAdjustmentEvent.objects.filter(pgh_label="insert")
    assert (adjustment.amount, adjustment.reason) == (Decimal("-5.00"), "cash shortage")
    assert adjustment.pgh_context["user"] == hq_admin.pk
    approval = last(SettlementPeriodEvent, period)
    assert (approval.audit_before["status"], approval.status) == ("draft", "approved")
    assert approval.approved_by_id == hq_admin.pk
    assert approval.pgh_context == {
        "user": hq_admin.pk,
        "url": f"/api/v1/attribution/periods/{month}/approve/",
        "method": "POST",
    }

    # and an edit of an approved line's payable in SQL cannot hide
    line = SettlementLine.objects.get(period=period, clerk=clerk_a)
    end_of_request_transaction()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE attribution_settlementline SET payable = payable + 1000 WHERE id = %s", [line.pk])
    edit = last(SettlementLineEvent, line)
    assert (edit.audit_before["payable"], edit.payable, edit.pgh_context) == (10.0, Decimal("1010.00"), None)


def test_a_celery_job_names_itself(require_postgres, shop):
    # given points whose lot has run out (set in SQL: the services refuse to earn expired points)
    from members.services import points_earn
    from members.tasks import points_expire_due

    points_earn(member=shop.member, points=40, reference="T-1")
    lot = PointsLot.objects.get(member=shop.member, reference="T-1")
    PointsLot.objects.filter(pk=lot.pk).update(expires_on="2020-01-01")

    # when the nightly job expires them
    points_expire_due.delay()

    # then the balance change says which job made it
    member = Member.objects.get(pk=shop.member.pk)
    expired = last(MemberEvent, member)
    assert (expired.audit_before["points_balance"], expired.points_balance) == (40, 0)
    assert expired.pgh_context["job"] == "members.tasks.points_expire_due"
    assert last(PointsLotEvent, lot).remaining == 0


class Command(BaseCommand):
    def handle(self, *args, **options):
        StockLevel.objects.update(safety_stock=F("safety_stock") + 1)


def test_a_management_command_names_itself(require_postgres, shop):
    level = StockLevel.objects.get(variant=shop.cap, location=shop.warehouse)

    Command().execute(no_color=True, force_color=False, skip_checks=True, stdout=None, stderr=None)

    event = last(StockLevelEvent, level)
    assert (event.audit_before["safety_stock"], event.safety_stock) == (0, 1)
    assert event.pgh_context == {"command": "test_audit_trail"}


def test_event_rows_cannot_be_changed_or_deleted(require_postgres, shop):
    level = StockLevel.objects.get(variant=shop.tee, location=shop.store_a)
    StockLevel.objects.filter(pk=level.pk).update(on_hand=0)
    event = last(StockLevelEvent, level)

    with pytest.raises(InternalError, match="Cannot update or delete rows"), transaction.atomic():
        StockLevelEvent.objects.filter(pk=event.pk).update(on_hand=5)
    with pytest.raises(InternalError, match="Cannot update or delete rows"), transaction.atomic():
        StockLevelEvent.objects.filter(pk=event.pk).delete()

    assert last(StockLevelEvent, level).on_hand == 0


# --- the admin --------------------------------------------------------------------------------------

AUDIT = "/admin/audit/auditevent/"


def test_hq_finance_reads_a_rows_audit_trail_in_the_admin(require_postgres, shop, client, hq_admin):
    # given a stock level changed by a bulk update and then through a request of the HQ admin
    level = StockLevel.objects.get(variant=shop.jeans, location=shop.store_a)
    StockLevel.objects.filter(pk=level.pk).update(on_hand=3)
    finance = make_staff(Role.HQ_FINANCE, username="hq.finance").user

    # when finance opens the audit trail of that row (the link on its change page)
    client.force_login(finance)
    page = client.get(AUDIT, {"pgh_obj_model": "inventory.StockLevel", "pgh_obj_id": level.pk})

    # then it lists the row's events, newest first, with the change
    assert page.status_code == 200
    rows = list(page.context["cl"].result_list)
    assert (rows[0].pgh_label, rows[0].pgh_obj_id) == ("update", str(level.pk))
    assert {r.pgh_obj_model for r in rows} == {"inventory.StockLevel"}
    assert "<th>on_hand</th><td>5</td><td>→ 3</td>" in page.content.decode()
    # and the change page of the stock level links to it
    change = client.get(f"/admin/inventory/stocklevel/{level.pk}/change/")
    assert f"{AUDIT}?pgh_obj_model=inventory.StockLevel&amp;pgh_obj_id={level.pk}" in change.content.decode()


def test_the_trail_filters_by_user_and_date(require_postgres, shop, client, clerk_a, hq_admin):
    clerk = client_for(clerk_a)
    sale = post(clerk, "/api/v1/orders/", {"lines": [{"sku": "CAP-M", "quantity": 1}], "fulfilment": "counter"})
    post(clerk, f"/api/v1/orders/{sale.json()['number']}/pay/", {"tenders": [{"tender": "cash"}]})
    client.force_login(hq_admin)

    by_clerk = client.get(AUDIT, {"user": clerk_a.pk, "pgh_created_at__gte": "2000-01-01"})
    by_admin = client.get(AUDIT, {"user": hq_admin.pk})

    tables = {r.pgh_obj_model for r in by_clerk.context["cl"].result_list}
    assert {"orders.Order", "inventory.StockLevel"} <= tables
    assert all(r.pgh_context["user"] == clerk_a.pk for r in by_clerk.context["cl"].result_list)
    assert list(by_admin.context["cl"].result_list) == []
    assert "a.clerk" in by_clerk.content.decode()


def test_clerks_and_other_hq_roles_cannot_see_the_audit_trail(require_postgres, shop, client, clerk_a):
    client.force_login(clerk_a)
    assert client.get(AUDIT).status_code == 302  # store staff never enter the HQ admin
    merchandiser = make_staff(Role.HQ_MERCHANDISER, username="hq.merch").user
    client.force_login(merchandiser)
    assert client.get(AUDIT).status_code == 403


def test_the_audit_trail_is_read_only_in_the_admin(require_postgres, shop, client, hq_admin):
    level = StockLevel.objects.get(variant=shop.tee, location=shop.store_a)
    StockLevel.objects.filter(pk=level.pk).update(on_hand=1)
    client.force_login(hq_admin)
    slug = client.get(AUDIT, {"pgh_obj_model": "inventory.StockLevel"}).context["cl"].result_list[0].pgh_slug

    assert client.get(f"{AUDIT}add/").status_code == 403
    assert client.post(f"{AUDIT}{slug}/delete/", {"post": "yes"}).status_code == 403
    assert client.get(f"{AUDIT}{slug}/change/").status_code == 200  # viewed, not changed
    assert StockLevelEvent.objects.filter(pgh_obj_id=level.pk, on_hand=1).count() == 1


def test_the_audit_trail_page_opens_on_either_database(db, client, hq_admin):
    # on SQLite (development) there are no triggers: the page says so instead of failing
    client.force_login(hq_admin)
    page = client.get(AUDIT)
    assert page.status_code == 200
    warned = "recorded on PostgreSQL only" in page.content.decode()
    assert warned is (connection.vendor != "postgresql")
