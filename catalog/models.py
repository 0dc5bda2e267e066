"""The catalog: products (styles) with variants (SKUs), a category tree, images, and per-channel
listings and prices. Prices are tax-included ``Decimal`` amounts in ``settings.OMO_CURRENCY``."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

SKU_VALIDATOR = RegexValidator(
    r"^[A-Z0-9][A-Z0-9._-]{1,39}$", _("Use 2-40 capital letters, digits, dots, dashes and underscores.")
)
SLUG_VALIDATOR = RegexValidator(r"^[a-z0-9][a-z0-9-]{0,49}$", _("Use lower-case letters, digits and dashes."))
MONEY = {"max_digits": 12, "decimal_places": 2, "validators": [MinValueValidator(Decimal("0"))]}


def ean13_check_digit(first12: str) -> int:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return (10 - total % 10) % 10


def validate_barcode(value: str) -> None:
    """Any printable code is accepted; a 13-digit code is an EAN-13 and must carry a right check digit."""
    if not value.isascii() or not value.isprintable() or " " in value:
        raise ValidationError(_("A barcode is letters and digits without spaces."), code="barcode_format")
    if value.isdigit() and len(value) == 13 and ean13_check_digit(value[:12]) != int(value[12]):
        raise ValidationError(
            _("%(code)s is not a valid EAN-13: the check digit should be %(digit)s."),
            code="ean13_check_digit",
            params={"code": value, "digit": ean13_check_digit(value[:12])},
        )


class Category(models.Model):
    """A node of the category tree. ``path`` (slugs joined by "/") makes "this category and below" one
    indexed prefix filter; it is kept right by ``catalog.services.category_save``."""

    name = models.CharField(_("name"), max_length=100)
    slug = models.CharField(_("slug"), max_length=50, validators=[SLUG_VALIDATOR])
    parent = models.ForeignKey(
        "self", verbose_name=_("parent"), null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    path = models.CharField(_("path"), max_length=255, unique=True, editable=False)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(fields=["parent", "slug"], name="category_slug_unique_per_parent"),
            models.UniqueConstraint(
                fields=["slug"], condition=Q(parent__isnull=True), name="category_root_slug_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.path


class Product(models.Model):
    """A style: what a shopper sees as one product, sold as one or more variants."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        ARCHIVED = "archived", _("Archived")

    style_code = models.CharField(_("style code"), max_length=40, unique=True, validators=[SKU_VALIDATOR])
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    category = models.ForeignKey(
        Category, verbose_name=_("category"), on_delete=models.PROTECT, related_name="products"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    tracks_lots = models.BooleanField(
        _("tracks lots"), default=False, help_text=_("Perishable: stock is kept by lot with an expiry date.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["style_code"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["draft", "active", "archived"]), name="product_status_valid")
        ]

    def __str__(self) -> str:
        return f"{self.style_code} {self.name}"


class ProductImage(models.Model):
    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="images")
    url = models.URLField(_("URL"), max_length=500)
    alt = models.CharField(_("alt text"), max_length=200, blank=True)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("product image")
        verbose_name_plural = _("product images")
        ordering = ["product", "position", "id"]

    def __str__(self) -> str:
        return self.url


class Variant(models.Model):
    """A SKU: one colour and size (or other options) of a product; what stock is counted in."""

    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.PROTECT, related_name="variants")
    sku = models.CharField(_("SKU"), max_length=40, unique=True, validators=[SKU_VALIDATOR])
    barcode = models.CharField(
        _("barcode"), max_length=32, unique=True, null=True, blank=True, validators=[validate_barcode]
    )
    color = models.CharField(_("colour"), max_length=40, blank=True)
    size = models.CharField(_("size"), max_length=20, blank=True)
    attributes = models.JSONField(_("other options"), default=dict, blank=True)
    position = models.PositiveIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("variant (SKU)")
        verbose_name_plural = _("variants (SKUs)")
        ordering = ["sku"]

    def __str__(self) -> str:
        options = " / ".join(x for x in (self.color, self.size) if x)
        return f"{self.sku} {options}".strip()


class ProductListing(models.Model):
    """Whether a channel sells a product. An active product listed on an online channel is shown there
    whatever the stock (endless aisle)."""

    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="listings")
    channel = models.ForeignKey(
        "org.SalesChannel", verbose_name=_("channel"), on_delete=models.CASCADE, related_name="listings"
    )
    is_listed = models.BooleanField(_("listed"), default=True)

    class Meta:
        verbose_name = _("channel listing")
        verbose_name_plural = _("channel listings")
        constraints = [models.UniqueConstraint(fields=["product", "channel"], name="listing_unique")]

    def __str__(self) -> str:
        return f"{self.product.style_code} @ {self.channel.code}"


class VariantPrice(models.Model):
    """A variant's tax-included price on one channel, with an optional scheduled sale price."""

    variant = models.ForeignKey(Variant, verbose_name=_("variant"), on_delete=models.CASCADE, related_name="prices")
    channel = models.ForeignKey(
        "org.SalesChannel", verbose_name=_("channel"), on_delete=models.CASCADE, related_name="prices"
    )
    price = models.DecimalField(_("price"), **MONEY)
    sale_price = models.DecimalField(_("sale price"), null=True, blank=True, **MONEY)
    sale_starts_at = models.DateTimeField(_("sale starts at"), null=True, blank=True)
    sale_ends_at = models.DateTimeField(_("sale ends at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("channel price")
        verbose_name_plural = _("channel prices")
        constraints = [
            models.UniqueConstraint(fields=["variant", "channel"], name="variant_price_unique"),
            models.CheckConstraint(condition=Q(price__gte=0), name="price_not_negative"),
            models.CheckConstraint(
                condition=Q(sale_price__isnull=True) | Q(sale_price__gte=0, sale_price__lte=models.F("price")),
                name="sale_price_within_price",
            ),
            models.CheckConstraint(
                condition=Q(sale_starts_at__isnull=True)
                | Q(sale_ends_at__isnull=True)
                | Q(sale_ends_at__gt=models.F("sale_starts_at")),
                name="sale_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.variant.sku} @ {self.channel.code}: {self.price}"

    def clean(self):
        if self.sale_price is not None and self.price is not None and self.sale_price > self.price:
            raise ValidationError({"sale_price": _("A sale price cannot be above the regular price.")})
        if self.sale_price is None and (self.sale_starts_at or self.sale_ends_at):
            raise ValidationError({"sale_price": _("A sale window needs a sale price.")})
        if self.sale_starts_at and self.sale_ends_at and self.sale_ends_at <= self.sale_starts_at:
            raise ValidationError({"sale_ends_at": _("The sale must end after it starts.")})

    def on_sale(self, at=None) -> bool:
        if self.sale_price is None:
            return False
        at = at or timezone.now()
        return (self.sale_starts_at is None or self.sale_starts_at <= at) and (
            self.sale_ends_at is None or at < self.sale_ends_at
        )

    def current_price(self, at=None) -> Decimal:
        return self.sale_price if self.on_sale(at) else self.price


class PriceChange(models.Model):
    """Append-only history of channel prices: who set which price when."""

    variant = models.ForeignKey(Variant, verbose_name=_("variant"), on_delete=models.PROTECT, related_name="+")
    channel = models.ForeignKey(
        "org.SalesChannel", verbose_name=_("channel"), on_delete=models.PROTECT, related_name="+"
    )
    price = models.DecimalField(_("price"), max_digits=12, decimal_places=2)
    sale_price = models.DecimalField(_("sale price"), max_digits=12, decimal_places=2, null=True, blank=True)
    sale_starts_at = models.DateTimeField(_("sale starts at"), null=True, blank=True)
    sale_ends_at = models.DateTimeField(_("sale ends at"), null=True, blank=True)
    changed_by = models.ForeignKey(
        "org.User", verbose_name=_("changed by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    changed_at = models.DateTimeField(_("changed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("price change")
        verbose_name_plural = _("price changes")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.variant_id}@{self.channel_id}: {self.price}"
