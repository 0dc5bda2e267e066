from datetime import timedelta
from decimal import Decimal

import pytest
import tablib
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from catalog import services
from catalog.imports import CatalogResource, import_catalog, problems
from catalog.models import PriceChange, Product, Variant, VariantPrice, validate_barcode
from omo.core.errors import ApplicationError, BusinessRuleError, ConflictError
from omo.org import services as org
from tests.conftest import client_for
from tests.factories import SalesChannelFactory, make_category, make_product


@pytest.fixture
def web(db):
    return SalesChannelFactory(code="WEB", kind="web")


@pytest.fixture
def web_api(web):
    _credential, key = org.channel_credential_issue(channel=web, name="test", created_by=None)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    return client


@pytest.mark.parametrize("code", ["4006381333931", "ABC-123", "12345678"])
def test_valid_barcodes(code):
    validate_barcode(code)


@pytest.mark.parametrize("code", ["4006381333932", "has space", "條碼"])
def test_bad_barcodes_are_refused(code):
    with pytest.raises(ValidationError):
        validate_barcode(code)


def test_variant_with_a_wrong_ean13_check_digit_is_refused_and_not_saved(db):
    product = make_product(variants=())

    with pytest.raises(ValidationError) as error:
        services.variant_create(product=product, sku="X-1", barcode="4006381333932")

    assert "check digit should be 1" in str(error.value)
    assert not Variant.objects.filter(sku="X-1").exists()


def test_duplicate_sku_and_barcode_are_conflicts(db):
    product = make_product(variants=())
    services.variant_create(product=product, sku="X-1", barcode="4006381333931")

    with pytest.raises(ConflictError) as sku:
        services.variant_create(product=product, sku="X-1")
    with pytest.raises(ConflictError) as barcode:
        services.variant_create(product=product, sku="X-2", barcode="4006381333931")

    assert (sku.value.code, barcode.value.code) == ("sku_exists", "barcode_exists")


def test_category_paths_make_a_tree(db):
    tops = services.category_ensure_path(path="women/tops/tees")

    assert tops.path == "women/tops/tees"
    assert tops.parent.path == "women/tops"
    assert tops.parent.parent.parent is None


def test_scheduled_sale_price_applies_only_inside_its_window(db, web):
    variant = make_product().variants.get()
    now = timezone.now()

    price = services.price_set(
        variant=variant,
        channel=web,
        price="1290",
        sale_price="990",
        sale_starts_at=now + timedelta(days=1),
        sale_ends_at=now + timedelta(days=3),
    )

    assert price.current_price(now) == Decimal("1290")
    assert price.current_price(now + timedelta(days=2)) == Decimal("990")
    assert price.current_price(now + timedelta(days=3)) == Decimal("1290")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"price": "-1"}, "zero or more"),
        ({"price": "10.005"}, "at most 2 decimals"),
        ({"price": "abc"}, "not an amount"),
        ({"price": "100", "sale_price": "120"}, "cannot be above the regular price"),
    ],
)
def test_bad_prices_are_refused_and_nothing_is_recorded(db, web, kwargs, message):
    variant = make_product().variants.get()

    with pytest.raises((BusinessRuleError, ValidationError)) as error:
        services.price_set(variant=variant, channel=web, **kwargs)

    assert message in str(error.value)
    assert VariantPrice.objects.count() == 0
    assert PriceChange.objects.count() == 0


def test_price_changes_are_kept_with_who_and_when(db, web, hq_admin):
    variant = make_product().variants.get()

    services.price_set(variant=variant, channel=web, price="100", actor=hq_admin)
    services.price_set(variant=variant, channel=web, price="100", actor=hq_admin)  # unchanged: no new row
    services.price_set(variant=variant, channel=web, price="90", actor=hq_admin)

    assert list(PriceChange.objects.order_by("id").values_list("price", "changed_by")) == [
        (Decimal("100.00"), hq_admin.pk),
        (Decimal("90.00"), hq_admin.pk),
    ]


def test_clerk_cannot_change_prices(db, web, clerk_a):
    variant = make_product().variants.get()

    with pytest.raises(ApplicationError) as error:
        services.price_set(variant=variant, channel=web, price="1", actor=clerk_a)

    assert error.value.code == "permission_denied"


# --- browse API ------------------------------------------------------------------------------------


def listed(product, channel, price):
    services.listing_set(product=product, channel=channel, is_listed=True)
    for variant in product.variants.all():
        services.price_set(variant=variant, channel=channel, price=price)


def test_frontend_sees_only_active_products_its_channel_lists_with_its_prices(web_api, web, db):
    app = SalesChannelFactory(code="APP", kind="app")
    shown = make_product(style_code="SHOWN", variants=("S", "M"), category=make_category("women/tops"))
    listed(shown, web, "1290")
    listed(shown, app, "1190")
    listed(make_product(style_code="DRAFT", status="draft"), web, "1")
    listed(make_product(style_code="APPONLY"), app, "1")
    make_product(style_code="UNLISTED")

    body = web_api.get("/api/v1/catalog/products/").json()

    assert [p["style_code"] for p in body["results"]] == ["SHOWN"]
    variants = body["results"][0]["variants"]
    assert [v["sku"] for v in variants] == ["SHOWN-S", "SHOWN-M"]
    assert variants[0]["prices"] == [
        {
            "channel": "WEB",
            "price": "1290.00",
            "sale_price": None,
            "sale_starts_at": None,
            "sale_ends_at": None,
            "current_price": "1290.00",
            "on_sale": False,
            "currency": "TWD",
        }
    ]


def test_browse_filters_by_category_tree_and_search(web_api, web, db):
    listed(make_product(style_code="TEE", name="棉質T恤", category=make_category("women/tops/tees")), web, "1")
    listed(make_product(style_code="JEAN", name="直筒牛仔褲", category=make_category("women/bottoms")), web, "1")

    tops = web_api.get("/api/v1/catalog/products/", {"category": "women/tops"}).json()
    women = web_api.get("/api/v1/catalog/products/", {"category": "women"}).json()
    search = web_api.get("/api/v1/catalog/products/", {"q": "牛仔"}).json()
    by_sku = web_api.get("/api/v1/catalog/products/", {"q": "TEE-M"}).json()

    assert [p["style_code"] for p in tops["results"]] == ["TEE"]
    assert [p["style_code"] for p in women["results"]] == ["JEAN", "TEE"]
    assert [p["style_code"] for p in search["results"]] == ["JEAN"]
    assert [p["style_code"] for p in by_sku["results"]] == ["TEE"]


def test_product_list_queries_do_not_grow_with_the_page(web_api, web, db, django_assert_max_num_queries):
    for n in range(20):
        listed(make_product(style_code=f"P{n:02d}", variants=("S", "M", "L")), web, "100")

    with django_assert_max_num_queries(8):
        response = web_api.get("/api/v1/catalog/products/")

    assert response.json()["count"] == 20


def test_unlisted_product_detail_is_404_for_the_frontend_but_visible_to_staff(web_api, hq_admin, db):
    make_product(style_code="HIDDEN")

    assert web_api.get("/api/v1/catalog/products/HIDDEN/").status_code == 404
    assert client_for(hq_admin).get("/api/v1/catalog/products/HIDDEN/").status_code == 200


# --- import / export -------------------------------------------------------------------------------

HEADERS = [
    "style_code",
    "name",
    "category",
    "status",
    "tracks_lots",
    "description",
    "channels",
    "sku",
    "barcode",
    "color",
    "size",
    "price_WEB",
    "sale_price_WEB",
]


def dataset(*rows):
    return tablib.Dataset(*rows, headers=HEADERS)


def test_import_creates_products_variants_prices_and_listings(web):
    result = import_catalog(
        dataset(
            ["TEE1", "棉T", "women/tops", "active", "0", "", "WEB", "TEE1-S", "4006381333931", "白", "S", "590", ""],
            ["TEE1", "棉T", "women/tops", "active", "0", "", "WEB", "TEE1-M", "", "白", "M", "590", "490"],
        ),
        dry_run=False,
    )

    assert problems(result) == []
    product = Product.objects.get(style_code="TEE1")
    assert (product.category.path, product.status) == ("women/tops", "active")
    assert list(product.variants.order_by("sku").values_list("sku", "size")) == [("TEE1-M", "M"), ("TEE1-S", "S")]
    assert VariantPrice.objects.get(variant__sku="TEE1-M").sale_price == Decimal("490")
    assert product.listings.get().channel == web


def test_import_with_any_bad_row_reports_each_by_line_and_imports_nothing(web):
    result = import_catalog(
        dataset(
            ["OK1", "Fine", "women", "active", "0", "", "WEB", "OK1-S", "", "", "S", "100", ""],
            ["BAD1", "", "women", "active", "0", "", "WEB", "BAD1-S", "", "", "S", "100", ""],
            ["BAD2", "x", "women", "sold", "0", "", "NOPE", "BAD2-S", "4006381333932", "", "S", "-5", ""],
        ),
        dry_run=False,
    )

    assert problems(result) == [
        "line 3: name: This column is required.",
        "line 4: channels: Unknown channel: NOPE.",
        "line 4: price_WEB: Use an amount of zero or more with at most 2 decimals.",
        "line 4: status: Use one of: draft, active, archived.",
    ]
    assert Product.objects.count() == 0
    assert Variant.objects.count() == 0


def test_dry_run_imports_nothing_even_when_all_rows_are_good(web):
    result = import_catalog(
        dataset(["DRY", "x", "a", "active", "0", "", "", "DRY-S", "", "", "S", "1", ""]), dry_run=True
    )

    assert problems(result) == []
    assert result.totals["new"] == 1
    assert Product.objects.count() == 0


def test_export_then_import_round_trips(web, tmp_path):
    listed(make_product(style_code="RT", variants=("S",)), web, "250")
    path = tmp_path / "catalog.xlsx"

    call_command("import_catalog", str(path), "--export")
    exported = CatalogResource().export()
    Product.objects.filter(style_code="RT").update(name="changed")
    call_command("import_catalog", str(path))

    assert exported.headers[:11] == HEADERS[:11]
    assert exported.dict[0]["price_WEB"] == "250.00"
    assert Product.objects.get(style_code="RT").name != "changed"


def test_a_prices_only_sheet_keeps_status_lot_tracking_and_description(web):
    product = make_product(style_code="KEEP", status="archived", variants=("S",))
    Product.objects.filter(pk=product.pk).update(description="keep me")

    result = import_catalog(
        dataset(["KEEP", product.name, product.category.path, "", "", "", "", "KEEP-S", "", "", "S", "321", ""]),
        dry_run=False,
    )

    assert problems(result) == []
    product.refresh_from_db()
    assert (product.status, product.tracks_lots, product.description) == ("archived", False, "keep me")
    assert VariantPrice.objects.get(variant__sku="KEEP-S").price == Decimal("321")


def test_a_new_product_with_a_blank_status_starts_as_a_draft(web):
    import_catalog(dataset(["NEW1", "x", "a", "", "", "", "", "NEW1-S", "", "", "S", "", ""]), dry_run=False)

    assert Product.objects.get(style_code="NEW1").status == "draft"


def test_admin_import_preview_reports_bad_rows_by_line_and_imports_nothing(client, hq_admin, web):
    from django.core.files.uploadedfile import SimpleUploadedFile

    csv = "\n".join(
        [",".join(HEADERS), "GOOD,Fine,women,active,0,,WEB,GOOD-S,,,S,100,", "BAD,x,women,sold,0,,WEB,BAD-S,,,S,abc,"]
    )
    client.force_login(hq_admin)
    page = client.get("/admin/catalog/product/import/")
    formats = page.context["form"].fields["format"].choices
    csv_index = next(value for value, label in formats if str(label).lower() == "csv")

    response = client.post(
        "/admin/catalog/product/import/",
        {
            "import_file": SimpleUploadedFile("catalog.csv", csv.encode("utf-8"), content_type="text/csv"),
            "format": csv_index,
            "resource": 0,
        },
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "Use one of: draft, active, archived." in html
    assert "abc is not an amount." in html
    assert response.context.get("confirm_form") is None  # no way to go on and import
    assert Product.objects.count() == 0
