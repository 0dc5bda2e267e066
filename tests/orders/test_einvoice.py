"""Taiwan e-invoice details on a sale: a mobile barcode carrier or a company tax id, checked and kept."""

import pytest

from omo.core.errors import ApplicationError
from orders import einvoice, services
from orders.models import Order
from tests.conftest import client_for


@pytest.mark.parametrize("code", ["22099131", "04595257", "10458575", "12345675"])
def test_valid_tax_ids(code):
    assert einvoice.tax_id_valid(code)


@pytest.mark.parametrize("code", ["22099132", "1234567", "123456789", "abcdefgh", "", "12345678"])
def test_invalid_tax_ids(code):
    assert not einvoice.tax_id_valid(code)


def test_the_seventh_digit_seven_rule():
    # 10000073: the weighted digit sums come to 14 with a 7 in seventh place (7 x 4 = 28 -> 10, read as
    # 1 or 0), so 14 + 1 = 15 counts; 10000070 comes to 11 and neither 11 nor 12 divides by 5
    assert einvoice.tax_id_valid("10000073")
    assert not einvoice.tax_id_valid("10000070")


@pytest.mark.parametrize(("raw", "clean"), [("/abc+123", "/ABC+123"), (" /A.B-1Z9 ", "/A.B-1Z9")])
def test_mobile_barcodes_are_normalised(raw, clean):
    assert einvoice.normalize_carrier(raw) == clean


@pytest.mark.parametrize("raw", ["ABC+1234", "/ABC+12", "/ABC+1234", "/ABC_123", ""])
def test_bad_mobile_barcodes_are_refused(raw):
    with pytest.raises(ApplicationError) as error:
        einvoice.normalize_carrier(raw)
    assert error.value.code == "invalid_carrier"


def test_a_counter_sale_keeps_the_invoice_details_and_bad_ones_change_nothing(shop, clerk_a):
    order = services.order_place(
        channel=shop.pos,
        fulfilment="counter",
        store=shop.store_a,
        clerk=clerk_a,
        actor=clerk_a,
        lines=[("CAP-M", 1)],
        invoice={"tax_id": "22099131", "title": "台灣積體電路製造股份有限公司"},
    )
    assert order.invoice == {"tax_id": "22099131", "title": "台灣積體電路製造股份有限公司"}

    response = client_for(clerk_a).post(
        "/api/v1/orders/",
        {"lines": [{"sku": "CAP-M", "quantity": 1}], "fulfilment": "counter", "invoice": {"carrier": "/12"}},
        format="json",
        HTTP_IDEMPOTENCY_KEY="inv-1",
    )
    assert (response.status_code, response.json()["code"]) == (400, "invalid_carrier")
    with pytest.raises(ApplicationError) as both:
        services.order_place(
            channel=shop.pos,
            fulfilment="counter",
            store=shop.store_a,
            actor=clerk_a,
            lines=[("CAP-M", 1)],
            invoice={"carrier": "/ABC+123", "tax_id": "22099131"},
        )
    assert both.value.code == "invalid_invoice"
    assert Order.objects.count() == 1
    stored = client_for(clerk_a).get(f"/api/v1/orders/{order.number}/").json()["invoice"]
    assert stored["tax_id"] == "22099131"
