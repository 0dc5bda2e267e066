from decimal import Decimal

import pytest

from inventory import services
from inventory.models import GoodsReceipt
from tests.factories import make_variant


def receive(location, variant, quantity, *, cost="100", lot_code="", expiry_date=None, actor=None) -> GoodsReceipt:
    """Goods in through the real goods-receipt services."""
    receipt = services.goods_receipt_create(
        location=location,
        supplier="Test supplier",
        actor=actor,
        lines=[
            {
                "variant": variant,
                "quantity": quantity,
                "unit_cost": Decimal(cost),
                "lot_code": lot_code,
                "expiry_date": expiry_date,
            }
        ],
    )
    return services.goods_receipt_post(receipt=receipt, actor=actor)


@pytest.fixture
def shirt(db):
    return make_variant(style_code="SHIRT", variants=("M",))


@pytest.fixture
def cream(db):
    return make_variant(style_code="CREAM", variants=("50ML",), tracks_lots=True)
