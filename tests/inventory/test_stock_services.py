from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.db.models import Sum

from inventory import services
from inventory.models import (
    Lot,
    LotStock,
    Reservation,
    SkuCost,
    StockLevel,
    StockMovement,
    Transfer,
)
from omo.core.errors import BusinessRuleError, ConflictError, PermissionDeniedError
from omo.org.roles import Role
from tests.factories import make_staff
from tests.inventory.conftest import receive


def level(variant, location) -> StockLevel:
    return StockLevel.objects.get(variant=variant, location=location)


def ledger_sum(variant, location) -> int:
    return StockMovement.objects.filter(variant=variant, location=location).aggregate(s=Sum("quantity"))["s"] or 0


def test_receipt_puts_stock_on_hand_with_a_movement_and_cost(warehouse, shirt, hq_admin):
    receipt = receive(warehouse, shirt, 10, cost="120.50", actor=hq_admin)

    stock = level(shirt, warehouse)
    movement = StockMovement.objects.get()
    assert (stock.on_hand, stock.reserved, stock.atp) == (10, 0, 10)
    assert (movement.kind, movement.quantity, movement.on_hand_after, movement.created_by) == (
        "receipt",
        10,
        10,
        hq_admin,
    )
    assert (movement.reference_type, movement.reference_id) == ("goods_receipt", str(receipt.pk))
    assert SkuCost.objects.get(variant=shirt).average_cost == Decimal("120.5000")


def test_moving_average_cost_weighs_what_is_on_hand(warehouse, store_a, shirt):
    receive(warehouse, shirt, 10, cost="100")
    receive(store_a, shirt, 30, cost="140")

    assert SkuCost.objects.get(variant=shirt).average_cost == Decimal("130.0000")  # (10*100 + 30*140) / 40


def test_posting_a_receipt_twice_is_refused_and_changes_nothing(warehouse, shirt):
    receipt = receive(warehouse, shirt, 5)

    with pytest.raises(ConflictError) as error:
        services.goods_receipt_post(receipt=receipt, actor=None)

    assert error.value.code == "already_posted"
    assert level(shirt, warehouse).on_hand == 5
    assert StockMovement.objects.count() == 1


def test_reserve_then_consume(warehouse, shirt):
    receive(warehouse, shirt, 10)

    services.reservation_create(lines=[services.StockLine(shirt, warehouse, 4)], reference="order:1")
    assert (level(shirt, warehouse).reserved, level(shirt, warehouse).atp) == (4, 6)
    services.reservation_consume(reference="order:1", actor=None)

    stock = level(shirt, warehouse)
    assert (stock.on_hand, stock.reserved) == (6, 0)
    assert Reservation.objects.get().status == "consumed"
    assert ledger_sum(shirt, warehouse) == 6


def test_short_stock_names_each_sku_with_what_is_available_and_reserves_nothing(warehouse, store_a, shirt, cream):
    receive(warehouse, shirt, 3)
    receive(warehouse, cream, 10, lot_code="L1", expiry_date=date(2030, 1, 1))
    services.stock_level_configure(variant=cream, location=warehouse, actor=None, safety_stock=2)

    with pytest.raises(services.InsufficientStock) as error:
        services.reservation_create(
            lines=[
                services.StockLine(shirt, warehouse, 5),
                services.StockLine(cream, warehouse, 9),
                services.StockLine(shirt, store_a, 1),
            ],
            reference="cart:9",
        )

    assert error.value.code == "insufficient_stock"
    assert error.value.details == {
        "lines": [
            {"sku": "SHIRT-M", "location": "WH-T1", "requested": 5, "available": 3},
            {"sku": "SHIRT-M", "location": "S-A", "requested": 1, "available": 0},
            {"sku": "CREAM-50ML", "location": "WH-T1", "requested": 9, "available": 8},
        ]
    }
    assert StockLevel.objects.filter(reserved__gt=0).count() == 0
    assert Reservation.objects.count() == 0


@pytest.mark.parametrize("quantity", [0, -1, 1.5, True])
def test_zero_negative_or_fractional_quantities_are_refused(warehouse, shirt, quantity):
    receive(warehouse, shirt, 3)

    with pytest.raises(BusinessRuleError) as error:
        services.reservation_create(lines=[services.StockLine(shirt, warehouse, quantity)], reference="x")

    assert error.value.code == "invalid_quantity"
    assert level(shirt, warehouse).reserved == 0


def test_release_gives_stock_back_once(warehouse, shirt):
    receive(warehouse, shirt, 5)
    services.reservation_create(lines=[services.StockLine(shirt, warehouse, 5)], reference="cart:1")

    assert services.reservation_release(reference="cart:1") == 5
    assert services.reservation_release(reference="cart:1") == 0
    assert level(shirt, warehouse).reserved == 0


def test_expired_reservations_are_released_by_the_job(warehouse, shirt):
    receive(warehouse, shirt, 5)
    services.reservation_create(
        lines=[services.StockLine(shirt, warehouse, 2)], reference="cart:old", ttl=timedelta(minutes=1)
    )
    services.reservation_create(lines=[services.StockLine(shirt, warehouse, 1)], reference="cart:new")

    from django.utils import timezone

    assert services.reservations_expire(now=timezone.now() + timedelta(minutes=2)) == 1

    assert level(shirt, warehouse).reserved == 1
    assert Reservation.objects.get(reference="cart:old").status == "expired"


def test_reserved_stock_cannot_be_sold_over_the_counter(store_a, shirt):
    receive(store_a, shirt, 2)
    services.reservation_create(lines=[services.StockLine(shirt, store_a, 2)], reference="pickup:1")

    with pytest.raises(services.InsufficientStock):
        services.stock_sell(lines=[services.StockLine(shirt, store_a, 1)], actor=None, reference="pos:1")

    assert level(shirt, store_a).on_hand == 2


def test_adjustment_needs_a_reason_and_cannot_go_negative(store_a, shirt, manager_a):
    receive(store_a, shirt, 2)

    with pytest.raises(BusinessRuleError, match="Say why"):
        services.stock_adjust(variant=shirt, location=store_a, quantity=-1, reason=" ", actor=manager_a)
    with pytest.raises(services.InsufficientStock):
        services.stock_adjust(variant=shirt, location=store_a, quantity=-3, reason="damaged", actor=manager_a)
    services.stock_adjust(variant=shirt, location=store_a, quantity=-1, reason="damaged", actor=manager_a)

    assert level(shirt, store_a).on_hand == 1
    assert StockMovement.objects.filter(kind="adjustment").get().created_by == manager_a


def test_clerk_cannot_adjust_and_manager_cannot_adjust_another_store(store_a, store_b, shirt, clerk_a, manager_a):
    receive(store_b, shirt, 2)

    with pytest.raises(PermissionDeniedError) as by_clerk:
        services.stock_adjust(variant=shirt, location=store_b, quantity=-1, reason="x", actor=clerk_a)
    with pytest.raises(PermissionDeniedError) as by_manager:
        services.stock_adjust(variant=shirt, location=store_b, quantity=-1, reason="x", actor=manager_a)

    assert by_clerk.value.code == "permission_denied"
    assert by_manager.value.code == "store_out_of_scope"
    assert level(shirt, store_b).on_hand == 2


def test_database_refuses_negative_stock_and_over_reservation(warehouse, shirt):
    receive(warehouse, shirt, 1)

    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.filter(variant=shirt).update(on_hand=-1)
    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.filter(variant=shirt).update(reserved=2)


# --- lots --------------------------------------------------------------------------------------------


def test_lots_are_sold_first_to_expire_first_and_expired_lots_are_not_sold(store_a, cream):
    receive(store_a, cream, 5, lot_code="LATE", expiry_date=date(2031, 1, 1))
    receive(store_a, cream, 3, lot_code="SOON", expiry_date=date(2030, 6, 1))
    receive(store_a, cream, 4, lot_code="GONE", expiry_date=date(2020, 1, 1))

    services.stock_sell(lines=[services.StockLine(cream, store_a, 4)], actor=None, reference="pos:1")

    lots = dict(LotStock.objects.filter(location=store_a).values_list("lot__code", "on_hand"))
    assert lots == {"LATE": 4, "SOON": 0, "GONE": 4}
    sale = list(StockMovement.objects.filter(kind="sale").order_by("id").values_list("lot__code", "quantity"))
    assert sale == [("SOON", -3), ("LATE", -1)]
    with pytest.raises(services.InsufficientStock):  # 4 unexpired left, 4 expired do not count
        services.stock_sell(lines=[services.StockLine(cream, store_a, 5)], actor=None, reference="pos:2")


def test_perishable_receipt_needs_lot_and_expiry(store_a, cream):
    with pytest.raises(BusinessRuleError) as error:
        receive(store_a, cream, 1)

    assert error.value.code == "lot_required"
    assert not StockLevel.objects.filter(variant=cream).exists()


def test_expired_lot_stock_is_not_available_to_promise(store_a, cream):
    today = date.today()
    receive(store_a, cream, 5, lot_code="OLD", expiry_date=today - timedelta(days=1))
    receive(store_a, cream, 2, lot_code="NEW", expiry_date=today + timedelta(days=90))

    with pytest.raises(services.InsufficientStock) as error:
        services.reservation_create(lines=[services.StockLine(cream, store_a, 3)], reference="pickup:1")
    services.reservation_create(lines=[services.StockLine(cream, store_a, 2)], reference="pickup:2")

    assert error.value.details["lines"][0]["available"] == 2
    assert level(cream, store_a).reserved == 2


def test_unexpired_lots_promised_to_reservations_cannot_be_sold_over_the_counter(store_a, cream):
    today = date.today()
    receive(store_a, cream, 5, lot_code="OLD", expiry_date=today - timedelta(days=1))
    receive(store_a, cream, 5, lot_code="NEW", expiry_date=today + timedelta(days=90))
    services.reservation_create(lines=[services.StockLine(cream, store_a, 5)], reference="pickup:1")

    with pytest.raises(services.InsufficientStock):
        services.stock_sell(lines=[services.StockLine(cream, store_a, 1)], actor=None, reference="pos:1")

    assert LotStock.objects.get(lot__code="NEW").on_hand == 5
    services.reservation_consume(reference="pickup:1", actor=None)
    assert LotStock.objects.get(lot__code="NEW").on_hand == 0


def test_write_off_takes_every_expired_lot_and_closes_the_newest_reservations_left_without_stock(store_a, cream):
    receive(store_a, cream, 4, lot_code="OLD", expiry_date=date(2030, 1, 1))
    receive(store_a, cream, 2, lot_code="NEW", expiry_date=date(2031, 1, 1))
    services.reservation_create(lines=[services.StockLine(cream, store_a, 1)], reference="pickup:old")
    services.reservation_create(lines=[services.StockLine(cream, store_a, 2)], reference="pickup:new")

    rows = services.lots_write_off_expired(today=date(2030, 1, 2))

    assert [(r.kind, r.quantity, r.lot.code) for r in rows] == [("expiry_write_off", -4, "OLD")]
    assert dict(Reservation.objects.values_list("reference", "status")) == {
        "pickup:old": "active",
        "pickup:new": "short",
    }
    stock = level(cream, store_a)
    assert (stock.on_hand, stock.reserved) == (2, 1)
    assert LotStock.objects.get(lot__code="OLD").on_hand == 0


def test_lot_report_lists_what_expires_soon(store_a, cream, hq_admin):
    from inventory.selectors import lots_expiring

    receive(store_a, cream, 2, lot_code="A", expiry_date=date(2030, 1, 10))
    receive(store_a, cream, 2, lot_code="B", expiry_date=date(2030, 3, 1))

    soon = lots_expiring(user=hq_admin, within_days=30, today=date(2030, 1, 1))

    assert [(s.lot.code, s.on_hand) for s in soon] == [("A", 2)]


# --- transfers ---------------------------------------------------------------------------------------


def test_transfer_request_approve_ship_receive(warehouse, store_a, shirt, clerk_a, hq_admin):
    receive(warehouse, shirt, 10)

    transfer = services.transfer_request(origin=warehouse, destination=store_a, lines=[(shirt, 4)], actor=clerk_a)
    services.transfer_approve(transfer=transfer, actor=hq_admin)
    services.transfer_ship(transfer=transfer, actor=hq_admin)
    in_transit = (level(shirt, warehouse).on_hand, StockLevel.objects.filter(location=store_a).count())
    services.transfer_receive(transfer=transfer, actor=clerk_a)

    transfer.refresh_from_db()
    assert transfer.kind == "replenishment"
    assert in_transit == (6, 0)
    assert (transfer.status, transfer.received_by) == ("received", clerk_a)
    assert (level(shirt, warehouse).on_hand, level(shirt, store_a).on_hand) == (6, 4)


def test_receiving_less_than_shipped_needs_a_note(warehouse, store_a, shirt, hq_admin):
    receive(warehouse, shirt, 10)
    transfer = services.transfer_request(origin=warehouse, destination=store_a, lines=[(shirt, 4)], actor=hq_admin)
    services.transfer_approve(transfer=transfer, actor=hq_admin)
    services.transfer_ship(transfer=transfer, actor=hq_admin)

    with pytest.raises(BusinessRuleError) as error:
        services.transfer_receive(transfer=transfer, actor=hq_admin, received={shirt.pk: (3, "")})
    assert error.value.code == "discrepancy_note_required"
    assert not StockLevel.objects.filter(location=store_a).exists()

    services.transfer_receive(transfer=transfer, actor=hq_admin, received={shirt.pk: (3, "one torn box")})
    line = transfer.lines.get()
    assert (line.quantity_shipped, line.quantity_received, line.discrepancy_note) == (4, 3, "one torn box")
    assert level(shirt, store_a).on_hand == 3


def test_transfer_to_the_same_location_or_shipping_unapproved_is_refused(warehouse, shirt, hq_admin, store_a):
    with pytest.raises(BusinessRuleError) as same:
        services.transfer_request(origin=warehouse, destination=warehouse, lines=[(shirt, 1)], actor=hq_admin)
    transfer = services.transfer_request(origin=warehouse, destination=store_a, lines=[(shirt, 1)], actor=hq_admin)
    with pytest.raises(ConflictError) as unapproved:
        services.transfer_ship(transfer=transfer, actor=hq_admin)

    assert same.value.code == "same_location"
    assert unapproved.value.code == "transfer_wrong_status"
    assert Transfer.objects.get().status == "requested"


def test_clerk_can_request_only_into_own_store(warehouse, store_b, shirt, clerk_a):
    with pytest.raises(PermissionDeniedError) as error:
        services.transfer_request(origin=warehouse, destination=store_b, lines=[(shirt, 1)], actor=clerk_a)

    assert error.value.code == "store_out_of_scope"
    assert Transfer.objects.count() == 0


def test_lots_travel_with_a_transfer(warehouse, store_a, cream, hq_admin):
    receive(warehouse, cream, 3, lot_code="A", expiry_date=date(2030, 1, 1))
    receive(warehouse, cream, 3, lot_code="B", expiry_date=date(2031, 1, 1))
    transfer = services.transfer_request(origin=warehouse, destination=store_a, lines=[(cream, 4)], actor=hq_admin)
    services.transfer_approve(transfer=transfer, actor=hq_admin)
    services.transfer_ship(transfer=transfer, actor=hq_admin)
    services.transfer_receive(transfer=transfer, actor=hq_admin)

    at_store = dict(LotStock.objects.filter(location=store_a).values_list("lot__code", "on_hand"))
    assert at_store == {"A": 3, "B": 1}


def test_replenishment_suggestions_fill_to_max_once(warehouse, store_a, shirt):
    receive(warehouse, shirt, 50)
    receive(store_a, shirt, 2)
    services.stock_level_configure(variant=shirt, location=store_a, actor=None, min_level=5, max_level=12)

    first = services.replenishment_suggest()
    second = services.replenishment_suggest()

    assert [(t.origin, t.destination, t.kind) for t in first] == [(warehouse, store_a, "suggested")]
    assert first[0].lines.get().quantity_requested == 10
    assert second == []


# --- counts ------------------------------------------------------------------------------------------


def test_stock_count_posts_variances_and_keeps_sales_made_while_counting(store_a, shirt, manager_a):
    receive(store_a, shirt, 10)
    count = services.stock_count_start(location=store_a, actor=manager_a)
    services.stock_sell(lines=[services.StockLine(shirt, store_a, 1)], actor=None, reference="pos:1")
    line = count.lines.get()
    services.stock_count_record(count=count, actor=manager_a, counted={line.pk: 8})

    services.stock_count_post(count=count, actor=manager_a)

    assert level(shirt, store_a).on_hand == 7  # 10 - 1 sold - 2 missing
    assert StockMovement.objects.filter(kind="count").get().quantity == -2
    count.refresh_from_db()
    assert (count.status, count.posted_by) == ("posted", manager_a)


def test_count_cannot_post_with_uncounted_lines(store_a, shirt, manager_a):
    receive(store_a, shirt, 10)
    count = services.stock_count_start(location=store_a, actor=manager_a)

    with pytest.raises(BusinessRuleError) as error:
        services.stock_count_post(count=count, actor=manager_a)

    assert error.value.code == "count_incomplete"
    assert level(shirt, store_a).on_hand == 10


def test_clerk_counts_but_only_a_manager_posts(store_a, shirt, clerk_a, manager_a):
    receive(store_a, shirt, 1)
    count = services.stock_count_start(location=store_a, actor=manager_a)
    services.stock_count_record(count=count, actor=clerk_a, counted={count.lines.get().pk: 1})

    with pytest.raises(PermissionDeniedError) as error:
        services.stock_count_post(count=count, actor=clerk_a)

    assert error.value.code == "permission_denied"


def test_ledger_is_append_only_on_postgres(require_postgres, warehouse, shirt):
    receive(warehouse, shirt, 1)

    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        StockMovement.objects.update(quantity=5)
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        StockMovement.objects.all().delete()


def test_roles_hold_their_inventory_permissions(store_a):
    clerk = make_staff(Role.CLERK, store=store_a).user
    manager = make_staff(Role.STORE_MANAGER, store=store_a).user

    assert clerk.has_perm("inventory.add_transfer") and not clerk.has_perm("inventory.approve_transfer")
    assert manager.has_perm("inventory.approve_transfer") and manager.has_perm("inventory.post_stockcount")
    assert Lot.objects.count() == 0


def test_receiving_more_than_requested_or_a_perishable_above_shipped_is_refused(
    warehouse, store_a, shirt, cream, hq_admin
):
    receive(warehouse, shirt, 10)
    receive(warehouse, cream, 5, lot_code="A", expiry_date=date(2031, 1, 1))
    transfer = services.transfer_request(
        origin=warehouse, destination=store_a, lines=[(shirt, 4), (cream, 3)], actor=hq_admin
    )
    services.transfer_approve(transfer=transfer, actor=hq_admin)
    services.transfer_ship(transfer=transfer, actor=hq_admin, quantities={shirt.pk: 2, cream.pk: 3})

    with pytest.raises(BusinessRuleError) as above_request:
        services.transfer_receive(transfer=transfer, actor=hq_admin, received={shirt.pk: (90000, "found more")})
    with pytest.raises(BusinessRuleError) as perishable:
        services.transfer_receive(transfer=transfer, actor=hq_admin, received={cream.pk: (4, "one extra")})
    services.transfer_receive(transfer=transfer, actor=hq_admin, received={shirt.pk: (3, "origin miscounted")})

    assert (above_request.value.code, above_request.value.details["maximum"]) == ("receipt_above_transfer", 4)
    assert perishable.value.code == "receipt_above_transfer"
    assert level(shirt, store_a).on_hand == 3
    assert level(cream, store_a).on_hand == 3


def test_moving_average_counts_goods_in_transit(warehouse, store_a, shirt, hq_admin):
    receive(warehouse, shirt, 100, cost="10")
    transfer = services.transfer_request(origin=warehouse, destination=store_a, lines=[(shirt, 100)], actor=hq_admin)
    services.transfer_approve(transfer=transfer, actor=hq_admin)
    services.transfer_ship(transfer=transfer, actor=hq_admin)

    receive(warehouse, shirt, 10, cost="20")

    assert SkuCost.objects.get(variant=shirt).average_cost == Decimal("10.9091")  # (100*10 + 10*20) / 110


def test_replenishment_does_not_count_stock_held_for_reservations(warehouse, store_a, shirt):
    receive(warehouse, shirt, 50)
    receive(store_a, shirt, 6)
    services.reservation_create(lines=[services.StockLine(shirt, store_a, 4)], reference="pickup:1")
    services.stock_level_configure(variant=shirt, location=store_a, actor=None, min_level=5, max_level=8)

    [transfer] = services.replenishment_suggest()

    assert transfer.lines.get().quantity_requested == 6  # 8 - (6 on hand - 4 held)


def test_lot_tracking_cannot_change_once_a_product_has_been_stocked(warehouse, shirt):
    from catalog import services as catalog

    receive(warehouse, shirt, 1)
    services.stock_sell(lines=[services.StockLine(shirt, warehouse, 1)], actor=None, reference="pos:1")

    with pytest.raises(BusinessRuleError) as error:
        catalog.product_update(product=shirt.product, tracks_lots=True)

    assert error.value.code == "tracks_lots_locked"
    shirt.product.refresh_from_db()
    assert shirt.product.tracks_lots is False


def test_staff_reserve_only_at_their_own_store_and_only_with_the_role(store_a, store_b, shirt, clerk_a, db):
    from omo.core.errors import PermissionDeniedError

    receive(store_a, shirt, 3)
    receive(store_b, shirt, 3)
    crm = make_staff(Role.HQ_CRM).user

    with pytest.raises(PermissionDeniedError) as other_store:
        services.reservation_create(lines=[services.StockLine(shirt, store_b, 1)], reference="x", actor=clerk_a)
    with pytest.raises(PermissionDeniedError) as no_role:
        services.reservation_create(lines=[services.StockLine(shirt, store_a, 1)], reference="y", actor=crm)
    services.reservation_create(lines=[services.StockLine(shirt, store_a, 1)], reference="z", actor=clerk_a)

    assert (other_store.value.code, no_role.value.code) == ("store_out_of_scope", "permission_denied")
    assert (level(shirt, store_a).reserved, level(shirt, store_b).reserved) == (1, 0)
