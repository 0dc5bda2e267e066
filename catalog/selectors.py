"""Reads of the catalog, with their queries spelled out."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from catalog.models import Category, Product, ProductImage, Variant, VariantPrice
from omo.org.models import SalesChannel


def category_list() -> QuerySet[Category]:
    return Category.objects.order_by("path")


def product_list(
    *,
    channel: SalesChannel | None = None,
    category_path: str | None = None,
    search: str | None = None,
    listed_only: bool = False,
    statuses: tuple[str, ...] = (Product.Status.ACTIVE,),
) -> QuerySet[Product]:
    """Products with their variants, images and prices prefetched (3 extra queries whatever the page size).

    With ``channel``: only that channel's prices; with ``listed_only`` only products the channel lists.
    Endless aisle: stock plays no part here; an active listed product shows even where none is held.
    """
    qs = Product.objects.filter(status__in=statuses).select_related("category")
    if listed_only and channel is not None:
        qs = qs.filter(listings__channel=channel, listings__is_listed=True)
    if category_path:
        path = category_path.strip("/")
        qs = qs.filter(Q(category__path=path) | Q(category__path__startswith=f"{path}/"))
    if search:
        term = search.strip()
        qs = qs.filter(
            Q(name__icontains=term)
            | Q(style_code__iexact=term)
            | Q(variants__sku__iexact=term)
            | Q(variants__barcode=term)
            | Q(description__icontains=term)
        ).distinct()
    prices = VariantPrice.objects.select_related("channel")
    if channel is not None:
        prices = prices.filter(channel=channel)
    return qs.order_by("style_code").prefetch_related(
        Prefetch(
            "variants",
            queryset=Variant.objects.filter(is_active=True)
            .order_by("position", "sku")
            .prefetch_related(Prefetch("prices", queryset=prices)),
        ),
        Prefetch("images", queryset=ProductImage.objects.order_by("position", "id")),
    )


def variants_by_sku(skus: list[str], *, light: bool = False) -> dict[str, Variant]:
    qs = Variant.objects.filter(sku__in=skus)
    qs = qs.only("id", "sku") if light else qs.select_related("product__category")  # coupons and points read it
    return {v.sku: v for v in qs}


def variant_by_code(code: str) -> Variant | None:
    """A variant by SKU or barcode (what a scanner types)."""
    code = code.strip()
    return Variant.objects.select_related("product").filter(Q(sku=code) | Q(barcode=code)).first()
