"""Every write of the catalog: categories, products, variants, channel listings and prices."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils.translation import gettext as _

from catalog.models import Category, PriceChange, Product, ProductImage, ProductListing, Variant, VariantPrice
from omo.core.errors import ApplicationError, BusinessRuleError, ConflictError, conflict_on_integrity_error
from omo.org.access import ensure_permission
from omo.org.models import SalesChannel


def _check(actor, perm: str) -> None:
    if actor is not None:
        ensure_permission(actor, perm)


@transaction.atomic
def category_create(*, name: str, slug: str, parent: Category | None = None, position: int = 0, actor=None) -> Category:
    _check(actor, "catalog.add_category")
    category = Category(name=name, slug=slug, parent=parent, position=position)
    category.path = f"{parent.path}/{slug}" if parent else slug
    category.full_clean(exclude=["path"], validate_unique=False, validate_constraints=False)
    with conflict_on_integrity_error(
        _("Category %(path)s already exists.") % {"path": category.path}, code="category_exists"
    ):
        category.save()
    return category


@transaction.atomic
def category_ensure_path(*, path: str, names: dict[str, str] | None = None, actor=None) -> Category:
    """The category at ``path`` ("women/tops"), creating missing levels (named by ``names`` or the slug)."""
    parent, built = None, []
    for slug in [part.strip() for part in path.strip("/").split("/") if part.strip()]:
        built.append(slug)
        existing = Category.objects.filter(path="/".join(built)).first()
        parent = existing or category_create(
            name=(names or {}).get("/".join(built), slug), slug=slug, parent=parent, actor=actor
        )
    if parent is None:
        raise BusinessRuleError(_("A category path is needed."), code="category_required")
    return parent


@transaction.atomic
def product_create(
    *,
    style_code: str,
    name: str,
    category: Category,
    status: str = Product.Status.DRAFT,
    description: str = "",
    tracks_lots: bool = False,
    images: list[str] | None = None,
    actor=None,
) -> Product:
    _check(actor, "catalog.add_product")
    if Product.objects.filter(style_code=style_code).exists():
        raise ConflictError(_("Style %(code)s already exists.") % {"code": style_code}, code="style_exists")
    product = Product(
        style_code=style_code,
        name=name,
        category=category,
        status=status,
        description=description,
        tracks_lots=tracks_lots,
    )
    product.full_clean(validate_unique=False)
    with conflict_on_integrity_error(_("Style %(code)s already exists.") % {"code": style_code}, code="style_exists"):
        product.save()
    ProductImage.objects.bulk_create(
        [ProductImage(product=product, url=url, position=i) for i, url in enumerate(images or [])]
    )
    for image in product.images.all():
        image.full_clean()
    return product


PRODUCT_FIELDS = ("name", "category", "status", "description", "tracks_lots")


@transaction.atomic
def product_update(*, product: Product, actor=None, **changes) -> Product:
    _check(actor, "catalog.change_product")
    unknown = set(changes) - set(PRODUCT_FIELDS)
    if unknown:
        raise BusinessRuleError(
            _("These fields cannot be changed here."), code="invalid_fields", details={"fields": sorted(unknown)}
        )
    product = Product.objects.select_for_update().get(pk=product.pk)
    # (stock rows are seen through the reverse relation: the catalog does not import the inventory app)
    if (
        "tracks_lots" in changes
        and changes["tracks_lots"] != product.tracks_lots
        and product.variants.filter(stock_levels__isnull=False).exists()
    ):
        # once stock of it has been kept anywhere (on hand, reserved, in transit or in the ledger)
        raise BusinessRuleError(
            _("Lot tracking cannot change once the product has been stocked."), code="tracks_lots_locked"
        )
    for field, value in changes.items():
        setattr(product, field, value)
    product.full_clean()
    product.save()
    return product


@transaction.atomic
def variant_create(
    *,
    product: Product,
    sku: str,
    barcode: str | None = None,
    color: str = "",
    size: str = "",
    attributes: dict | None = None,
    position: int = 0,
    actor=None,
) -> Variant:
    _check(actor, "catalog.add_variant")
    if Variant.objects.filter(sku=sku).exists():
        raise ConflictError(_("SKU %(sku)s already exists.") % {"sku": sku}, code="sku_exists")
    if barcode and Variant.objects.filter(barcode=barcode).exists():
        raise ConflictError(_("Barcode %(code)s is already used.") % {"code": barcode}, code="barcode_exists")
    variant = Variant(
        product=product,
        sku=sku,
        barcode=barcode or None,
        color=color,
        size=size,
        attributes=attributes or {},
        position=position,
    )
    variant.full_clean(validate_unique=False)
    with conflict_on_integrity_error(_("SKU or barcode already exists."), code="sku_exists"):
        variant.save()
    return variant


@transaction.atomic
def listing_set(*, product: Product, channel: SalesChannel, is_listed: bool, actor=None) -> ProductListing:
    _check(actor, "catalog.change_productlisting")
    listing, _created = ProductListing.objects.update_or_create(
        product=product, channel=channel, defaults={"is_listed": is_listed}
    )
    return listing


def _money(value, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise BusinessRuleError(_("%(field)s is not an amount.") % {"field": field}, code="invalid_amount") from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise BusinessRuleError(
            _("%(field)s must be zero or more, with at most 2 decimals.") % {"field": field}, code="invalid_amount"
        )
    return amount


@transaction.atomic
def price_set(
    *,
    variant: Variant,
    channel: SalesChannel,
    price,
    sale_price=None,
    sale_starts_at=None,
    sale_ends_at=None,
    actor=None,
) -> VariantPrice:
    """Sets a variant's tax-included channel price (and scheduled sale), recording the change."""
    _check(actor, "catalog.change_variantprice")
    record = VariantPrice.objects.select_for_update().filter(variant=variant, channel=channel).first()
    record = record or VariantPrice(variant=variant, channel=channel)
    record.price = _money(price, "price")
    if record.price is None:
        raise BusinessRuleError(_("A price is needed."), code="invalid_amount")
    record.sale_price = _money(sale_price, "sale_price")
    record.sale_starts_at, record.sale_ends_at = sale_starts_at, sale_ends_at
    record.full_clean(validate_unique=False)
    unchanged = (
        record.pk
        and VariantPrice.objects.filter(
            pk=record.pk,
            price=record.price,
            sale_price=record.sale_price,
            sale_starts_at=sale_starts_at,
            sale_ends_at=sale_ends_at,
        ).exists()
    )
    record.save()
    if not unchanged:
        PriceChange.objects.create(
            variant=variant,
            channel=channel,
            price=record.price,
            sale_price=record.sale_price,
            sale_starts_at=sale_starts_at,
            sale_ends_at=sale_ends_at,
            changed_by=actor if getattr(actor, "pk", None) else None,
        )
    return record


def resolve_skus(skus: list[str], *, light: bool = False) -> dict[str, Variant]:
    """The variants of ``skus`` (one query); a 400 ``unknown_sku`` naming every SKU not found.
    ``light``: only id and SKU (a read that needs nothing else, such as availability)."""
    from catalog.selectors import variants_by_sku

    found = variants_by_sku(sorted(set(skus)), light=light)
    missing = sorted(set(skus) - set(found))
    if missing:
        raise ApplicationError(
            _("Unknown SKU: %(skus)s.") % {"skus": ", ".join(missing)}, code="unknown_sku", details={"skus": missing}
        )
    return found
