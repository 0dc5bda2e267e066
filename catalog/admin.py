from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportMixin

from catalog import services
from catalog.imports import CatalogResource
from catalog.models import Category, PriceChange, Product, ProductImage, ProductListing, Variant, VariantPrice
from omo.core.admin_helpers import ReadOnlyAdmin


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["path", "name", "parent", "position"]
    search_fields = ["path", "name"]
    list_select_related = ["parent"]
    readonly_fields = ["path"]
    autocomplete_fields = ["parent"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)  # name/position only: path stays (slug is read-only)
        else:
            obj.pk = services.category_create(
                name=obj.name, slug=obj.slug, parent=obj.parent, position=obj.position, actor=request.user
            ).pk

    def get_readonly_fields(self, request, obj=None):
        return ["path", "slug", "parent"] if obj else ["path"]


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 0
    fields = ["sku", "barcode", "color", "size", "position", "is_active"]
    show_change_link = True


class ImageInline(admin.TabularInline):
    model = ProductImage
    extra = 0


class ListingInline(admin.TabularInline):
    model = ProductListing
    extra = 0


@admin.register(Product)
class ProductAdmin(ImportExportMixin, admin.ModelAdmin):
    """Products with variants; bulk import/export of products and prices as CSV or XLSX (the import
    page previews every row and imports nothing while any row is bad)."""

    resource_classes = [CatalogResource]
    list_display = ["style_code", "name", "category", "status", "tracks_lots", "variant_count", "updated_at"]
    list_filter = ["status", "tracks_lots", "category"]
    search_fields = ["style_code", "name", "variants__sku", "variants__barcode"]
    list_select_related = ["category"]
    autocomplete_fields = ["category"]
    inlines = [VariantInline, ImageInline, ListingInline]

    @admin.display(description=_("variants"))
    def variant_count(self, obj):
        return obj.variants.count()


class PriceInline(admin.TabularInline):
    model = VariantPrice
    extra = 0
    fields = ["channel", "price", "sale_price", "sale_starts_at", "sale_ends_at"]


@admin.register(Variant)
class VariantAdmin(admin.ModelAdmin):
    list_display = ["sku", "product", "color", "size", "barcode", "is_active"]
    list_filter = ["is_active", "product__category", "product__status"]
    search_fields = ["sku", "barcode", "product__style_code", "product__name"]
    list_select_related = ["product"]
    autocomplete_fields = ["product"]
    inlines = [PriceInline]

    def save_formset(self, request, form, formset, change):
        if formset.model is not VariantPrice:
            return super().save_formset(request, form, formset, change)
        for price in formset.save(commit=False):  # prices go through the service, which records the change
            services.price_set(
                variant=form.instance,
                channel=price.channel,
                price=price.price,
                sale_price=price.sale_price,
                sale_starts_at=price.sale_starts_at,
                sale_ends_at=price.sale_ends_at,
                actor=request.user,
            )
        for price in formset.deleted_objects:
            price.delete()
        return None


@admin.register(VariantPrice)
class VariantPriceAdmin(admin.ModelAdmin):
    list_display = ["variant", "channel", "price", "sale_price", "sale_starts_at", "sale_ends_at", "updated_at"]
    list_filter = ["channel"]
    search_fields = ["variant__sku", "variant__product__name"]
    list_select_related = ["variant", "channel"]
    autocomplete_fields = ["variant"]

    def save_model(self, request, obj, form, change):
        obj.pk = services.price_set(
            variant=obj.variant,
            channel=obj.channel,
            price=obj.price,
            sale_price=obj.sale_price,
            sale_starts_at=obj.sale_starts_at,
            sale_ends_at=obj.sale_ends_at,
            actor=request.user,
        ).pk


@admin.register(ProductListing)
class ProductListingAdmin(admin.ModelAdmin):
    list_display = ["product", "channel", "is_listed"]
    list_filter = ["channel", "is_listed"]
    search_fields = ["product__style_code", "product__name"]
    list_select_related = ["product", "channel"]


@admin.register(ProductImage)
class ProductImageAdmin(admin.ModelAdmin):
    list_display = ["product", "url", "position"]
    search_fields = ["product__style_code", "url"]
    list_select_related = ["product"]


@admin.register(PriceChange)
class PriceChangeAdmin(ReadOnlyAdmin):
    """The price history: read-only."""

    list_display = ["changed_at", "variant", "channel", "price", "sale_price", "changed_by"]
    list_filter = ["channel"]
    search_fields = ["variant__sku"]
    list_select_related = ["variant", "channel", "changed_by"]
