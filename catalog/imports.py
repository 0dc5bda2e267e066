"""Bulk import and export of products and prices as CSV or XLSX (django-import-export).

One row per variant (SKU): the product's columns repeat on each of its variants, then one
``price_<CHANNEL>`` and ``sale_price_<CHANNEL>`` column per sales channel, and ``channels`` (the
channel codes that list the product). A dry run reports every bad row by its line number; a real
import runs in one transaction and imports nothing while any row is bad. Every write goes through
``catalog.services``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from import_export import fields, resources

from catalog import services
from catalog.models import Category, Product, Variant
from omo.core.errors import ApplicationError
from omo.org.models import SalesChannel

PRODUCT_COLUMNS = ["style_code", "name", "category", "status", "tracks_lots", "description", "channels"]
VARIANT_COLUMNS = ["sku", "barcode", "color", "size"]
TRUE = {"1", "true", "yes", "y", "是"}
FALSE = {"0", "false", "no", "n", "否", ""}


def _text(row, key) -> str:
    value = row.get(key)
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():  # XLSX hands whole numbers as floats
        value = int(value)
    return str(value).strip()


def _amount(row, key) -> Decimal | None:
    raw = _text(row, key)
    if raw == "":
        return None
    try:
        value = Decimal(raw.replace(",", ""))
    except InvalidOperation:
        raise ValidationError({key: _("%(value)s is not an amount.") % {"value": raw}}) from None
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")):
        raise ValidationError({key: _("Use an amount of zero or more with at most 2 decimals.")})
    return value


class PriceField(fields.Field):
    def __init__(self, channel: SalesChannel, attribute: str):
        super().__init__(column_name=f"{attribute}_{channel.code}", readonly=True)
        self.channel, self.price_attribute = channel, attribute

    def export(self, instance, **kwargs):
        if instance.pk is None:  # a new row's "before" picture in the import preview
            return ""
        price = next((p for p in instance.prices.all() if p.channel_id == self.channel.pk), None)
        value = getattr(price, self.price_attribute, None) if price else None
        return "" if value is None else str(value)


class CatalogResource(resources.ModelResource):
    style_code = fields.Field(column_name="style_code", readonly=True)
    name = fields.Field(column_name="name", readonly=True)
    category = fields.Field(column_name="category", readonly=True)
    status = fields.Field(column_name="status", readonly=True)
    tracks_lots = fields.Field(column_name="tracks_lots", readonly=True)
    description = fields.Field(column_name="description", readonly=True)
    channels = fields.Field(column_name="channels", readonly=True)

    class Meta:
        model = Variant
        import_id_fields = ["sku"]
        fields = PRODUCT_COLUMNS + VARIANT_COLUMNS
        export_order = PRODUCT_COLUMNS + VARIANT_COLUMNS
        use_transactions = True
        skip_unchanged = False
        clean_model_instances = True
        name = "Products and prices (one row per SKU)"

    def __init__(self, actor=None, **kwargs):
        super().__init__(**kwargs)
        self.actor = actor
        self.sales_channels = {c.code: c for c in SalesChannel.objects.order_by("code")}
        for channel in self.sales_channels.values():
            for attribute in ("price", "sale_price"):
                field = PriceField(channel, attribute)
                self.fields[field.column_name] = field
        self._product: Product | None = None

    def get_export_order(self):
        return tuple(PRODUCT_COLUMNS + VARIANT_COLUMNS) + tuple(
            f"{attr}_{code}" for code in self.sales_channels for attr in ("price", "sale_price")
        )

    def get_queryset(self):
        return (
            Variant.objects.select_related("product__category")
            .prefetch_related("prices", "product__listings__channel")
            .order_by("product__style_code", "position", "sku")
        )

    # --- export ---------------------------------------------------------------------------------------
    def dehydrate_style_code(self, variant):
        return variant.product.style_code if variant.product_id else ""

    def dehydrate_name(self, variant):
        return variant.product.name if variant.product_id else ""

    def dehydrate_category(self, variant):
        return variant.product.category.path if variant.product_id else ""

    def dehydrate_status(self, variant):
        return variant.product.status if variant.product_id else ""

    def dehydrate_tracks_lots(self, variant):
        return ("1" if variant.product.tracks_lots else "0") if variant.product_id else ""

    def dehydrate_description(self, variant):
        return variant.product.description if variant.product_id else ""

    def dehydrate_channels(self, variant):
        if variant.product_id is None or variant.product.pk is None:
            return ""
        return ",".join(sorted(listing.channel.code for listing in variant.product.listings.all() if listing.is_listed))

    # --- import ---------------------------------------------------------------------------------------
    def before_import_row(self, row, **kwargs):
        """Checks the product columns and creates or updates the product (and its category)."""
        errors = {}
        style_code, name, path = _text(row, "style_code"), _text(row, "name"), _text(row, "category")
        existing = Product.objects.filter(style_code=style_code).first() if style_code else None
        # A blank cell keeps what an existing product has (a prices-only sheet changes only prices);
        # a new product starts as a draft, without lot tracking.
        status = _text(row, "status") or (existing.status if existing else Product.Status.DRAFT)
        lots_cell = _text(row, "tracks_lots").lower()
        lots = lots_cell or ("1" if existing and existing.tracks_lots else "0")
        for key, value in (("style_code", style_code), ("name", name), ("category", path), ("sku", _text(row, "sku"))):
            if not value:
                errors[key] = _("This column is required.")
        if status not in Product.Status.values:
            errors["status"] = _("Use one of: %(values)s.") % {"values": ", ".join(Product.Status.values)}
        if lots not in TRUE | FALSE:
            errors["tracks_lots"] = _("Use 1 or 0.")
        codes = [c.strip() for c in _text(row, "channels").split(",") if c.strip()]
        unknown = [c for c in codes if c not in self.sales_channels]
        if unknown:
            errors["channels"] = _("Unknown channel: %(codes)s.") % {"codes": ", ".join(unknown)}
        for code in self.sales_channels:
            for key in (f"price_{code}", f"sale_price_{code}"):
                try:
                    _amount(row, key)
                except ValidationError as error:
                    errors.update(error.message_dict)
        if errors:
            raise ValidationError(errors)
        try:
            category = Category.objects.filter(path=path.strip("/")).first() or services.category_ensure_path(
                path=path, actor=self.actor
            )
            product = existing
            if product is None:
                product = services.product_create(
                    style_code=style_code,
                    name=name,
                    category=category,
                    status=status,
                    description=_text(row, "description"),
                    tracks_lots=lots in TRUE,
                    actor=self.actor,
                )
            else:
                changes = {"name": name, "category": category, "status": status, "tracks_lots": lots in TRUE}
                if _text(row, "description"):
                    changes["description"] = _text(row, "description")
                product = services.product_update(product=product, actor=self.actor, **changes)
        except ApplicationError as error:
            raise ValidationError({"style_code": error.message}) from None
        self._product = product
        self._listed = codes

    def import_instance(self, instance, row, **kwargs):
        instance.product = self._product
        instance.sku = _text(row, "sku")
        instance.barcode = _text(row, "barcode") or None
        instance.color = _text(row, "color")
        instance.size = _text(row, "size")
        if instance.pk and instance.product_id != self._product.pk:
            raise ValidationError({"sku": _("This SKU belongs to another product.")})

    def do_instance_save(self, instance, is_create):
        if is_create:
            created = services.variant_create(
                product=instance.product,
                sku=instance.sku,
                barcode=instance.barcode,
                color=instance.color,
                size=instance.size,
                actor=self.actor,
            )
            instance.pk = created.pk
        else:
            instance.save()

    def after_save_instance(self, instance, row, **kwargs):
        for code, channel in self.sales_channels.items():
            price = _amount(row, f"price_{code}")
            if price is not None:
                services.price_set(
                    variant=instance,
                    channel=channel,
                    price=price,
                    sale_price=_amount(row, f"sale_price_{code}"),
                    actor=self.actor,
                )
        for code in self._listed:
            services.listing_set(
                product=instance.product, channel=self.sales_channels[code], is_listed=True, actor=self.actor
            )


def import_catalog(dataset, *, dry_run: bool, actor=None):
    """Runs an import; returns the import-export result (``has_errors()``, ``invalid_rows``, ``row_errors()``)."""
    resource = CatalogResource(actor=actor)
    return resource.import_data(
        dataset, dry_run=dry_run, raise_errors=False, use_transactions=True, rollback_on_validation_errors=True
    )


def problems(result) -> list[str]:
    """Every bad row of a result as "line N: column: message", lines numbered as in the file (header = 1)."""
    lines = []
    for invalid in result.invalid_rows:
        for column, messages in sorted(invalid.error_dict.items()):
            for message in messages:
                lines.append((invalid.number + 1, f"line {invalid.number + 1}: {column}: {message}"))
    for number, errors in result.row_errors():
        for error in errors:
            lines.append((number + 1, f"line {number + 1}: {error.error}"))
    return [text for _n, text in sorted(lines)]
