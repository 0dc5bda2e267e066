"""For any sequence of stock operations the books balance: on hand equals the sum of movements, never
negative, reserved equals the active reservations, and lot stock adds up to the stock level."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inventory import services
from inventory.models import LotStock, Reservation, StockLevel, StockMovement, Transfer
from omo.core.errors import ApplicationError
from tests.factories import make_variant
from tests.inventory.conftest import receive

TODAY = timezone.localdate()
OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["receive", "sell", "adjust", "reserve", "release", "consume", "transfer", "count", "expire"]),
        st.integers(0, 1),  # which SKU (0: plain, 1: lot-tracked)
        st.integers(0, 1),  # which location
        st.one_of(st.integers(1, 8), st.integers(-3, 0)),  # mostly valid; zero and negatives must be refused
    ),
    min_size=1,
    max_size=30,
)


@pytest.fixture
def world(warehouse, store_a):
    return {
        "skus": [make_variant(style_code="PLAIN"), make_variant(style_code="LOTS", tracks_lots=True)],
        "locations": [warehouse, store_a],
    }


def apply(op, world, step):
    kind, sku, loc, qty = op
    variant, location = world["skus"][sku], world["locations"][loc]
    other = world["locations"][1 - loc]
    # lots that expired, that expire today and later: sales, reservations and write-offs meet all three
    lot = {"lot_code": f"L{step % 3}", "expiry_date": TODAY + timedelta(days=(step % 3 - 1) * 30)} if sku else {}
    if kind == "receive":
        receive(location, variant, qty, **lot)
    elif kind == "sell":
        services.stock_sell(lines=[services.StockLine(variant, location, qty)], actor=None, reference=f"s{step}")
    elif kind == "adjust":
        lot_obj = (
            services.lot_get_or_create(variant=variant, code=lot["lot_code"], expiry_date=lot["expiry_date"])
            if sku and qty > 0
            else None
        )
        services.stock_adjust(variant=variant, location=location, quantity=qty, reason="test", actor=None, lot=lot_obj)
    elif kind == "reserve":
        services.reservation_create(lines=[services.StockLine(variant, location, qty)], reference=f"r{sku}{loc}")
    elif kind == "release":
        services.reservation_release(reference=f"r{sku}{loc}")
    elif kind == "consume":
        services.reservation_consume(reference=f"r{sku}{loc}", actor=None)
    elif kind == "transfer":
        transfer = services.transfer_request(origin=location, destination=other, lines=[(variant, qty)], actor=None)
        services.transfer_approve(transfer=transfer, actor=None)
        services.transfer_ship(transfer=transfer, actor=None)
        if step % 2:
            services.transfer_receive(transfer=transfer, actor=None)
    elif kind == "count":
        count = services.stock_count_start(location=location, actor=None)
        services.stock_count_record(
            count=count,
            actor=None,
            counted={line.pk: max(line.expected + qty % 3 - 1, 0) for line in count.lines.all()},
        )
        services.stock_count_post(count=count, actor=None)
    elif kind == "expire":
        services.lots_write_off_expired()


def state():
    """Everything an operation may change, to compare before and after a refused one."""
    return (
        sorted(StockLevel.objects.values_list("variant_id", "location_id", "on_hand", "reserved", "safety_stock")),
        sorted(LotStock.objects.values_list("lot_id", "location_id", "on_hand")),
        sorted(Reservation.objects.values_list("pk", "status", "quantity")),
        StockMovement.objects.count(),
        sorted(Transfer.objects.values_list("pk", "status")),
    )


def check_books(world):
    for level in StockLevel.objects.all():
        moved = (
            StockMovement.objects.filter(variant=level.variant_id, location=level.location_id).aggregate(
                s=Sum("quantity")
            )["s"]
            or 0
        )
        held = (
            Reservation.objects.filter(variant=level.variant_id, location=level.location_id, status="active").aggregate(
                s=Sum("quantity")
            )["s"]
            or 0
        )
        assert level.on_hand == moved
        assert 0 <= level.reserved <= level.on_hand
        assert level.reserved == held
        if level.variant_id == world["skus"][1].pk:
            lots = (
                LotStock.objects.filter(lot__variant=level.variant_id, location=level.location_id).aggregate(
                    s=Sum("on_hand")
                )["s"]
                or 0
            )
            assert lots == level.on_hand
    for lot_stock in LotStock.objects.all():
        moved = (
            StockMovement.objects.filter(lot=lot_stock.lot_id, location=lot_stock.location_id).aggregate(
                s=Sum("quantity")
            )["s"]
            or 0
        )
        assert lot_stock.on_hand == moved


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS)
def test_any_sequence_of_operations_keeps_the_books_balanced(world, operations):
    savepoint = transaction.savepoint()
    try:
        for variant in world["skus"]:  # every example starts with stock everywhere
            for location in world["locations"]:
                if variant.product.tracks_lots:  # one lot already expired, one still good
                    receive(location, variant, 10, lot_code="L0", expiry_date=TODAY - timedelta(days=30))
                    receive(location, variant, 10, lot_code="L2", expiry_date=TODAY + timedelta(days=30))
                else:
                    receive(location, variant, 10)
        for step, op in enumerate(operations):
            before = state()
            try:
                # a step that calls several services (transfer, count, receipt) is one atomic unit here
                with transaction.atomic():
                    apply(op, world, step)
            except ApplicationError:
                assert state() == before, f"refused {op} changed something"
            check_books(world)
    finally:
        transaction.savepoint_rollback(savepoint)
