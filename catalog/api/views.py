import django_filters
from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import selectors
from catalog.models import Category, Product
from omo.core.errors import ApplicationError, NotFoundError
from omo.org.api.permissions import IsStaffOrChannel, is_channel_request
from omo.org.models import SalesChannel


def request_channel(request) -> SalesChannel | None:
    """The channel a frontend calls for (its key's), or the one staff ask for with ``?channel=CODE``."""
    if is_channel_request(request):
        return request.auth.channel
    code = request.query_params.get("channel")
    if not code:
        return None
    channel = SalesChannel.objects.filter(code=code).first()
    if channel is None:
        raise ApplicationError(f"Unknown channel {code}.", code="unknown_channel")
    return channel


class CategorySerializer(serializers.ModelSerializer):
    parent = serializers.CharField(source="parent.path", default=None, allow_null=True)

    class Meta:
        model = Category
        fields = ["path", "name", "slug", "parent"]


class CategoryListApi(generics.ListAPIView):
    permission_classes = [IsStaffOrChannel]
    serializer_class = CategorySerializer
    pagination_class = None

    def get_queryset(self):
        return selectors.category_list().select_related("parent")


class PriceSerializer(serializers.Serializer):
    channel = serializers.CharField(source="channel.code")
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    sale_price = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    sale_starts_at = serializers.DateTimeField(allow_null=True)
    sale_ends_at = serializers.DateTimeField(allow_null=True)
    current_price = serializers.SerializerMethodField()
    on_sale = serializers.SerializerMethodField()
    currency = serializers.SerializerMethodField()

    @extend_schema_field(serializers.DecimalField(max_digits=12, decimal_places=2))
    def get_current_price(self, price) -> str:
        # A string like the other amounts: money never travels as a JSON float.
        return serializers.DecimalField(max_digits=12, decimal_places=2).to_representation(
            price.current_price(self.context["now"])
        )

    def get_on_sale(self, price) -> bool:
        return price.on_sale(self.context["now"])

    def get_currency(self, price) -> str:
        return settings.OMO_CURRENCY


class VariantSerializer(serializers.Serializer):
    sku = serializers.CharField()
    barcode = serializers.CharField(allow_null=True)
    color = serializers.CharField()
    size = serializers.CharField()
    attributes = serializers.DictField()
    prices = PriceSerializer(many=True)


class ProductSerializer(serializers.Serializer):
    style_code = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    status = serializers.CharField()
    category = serializers.CharField(source="category.path")
    tracks_lots = serializers.BooleanField()
    images = serializers.SerializerMethodField()
    variants = VariantSerializer(many=True)

    def get_images(self, product) -> list[dict]:
        return [{"url": image.url, "alt": image.alt} for image in product.images.all()]


class ProductFilter(django_filters.FilterSet):
    category = django_filters.CharFilter(method="noop", help_text="A category path; includes its subcategories.")
    q = django_filters.CharFilter(method="noop", help_text="Name, description, style code, SKU or barcode.")

    def noop(self, queryset, name, value):
        return queryset  # applied by the selector

    class Meta:
        model = Product
        fields = ["category", "q"]


CHANNEL_PARAM = OpenApiParameter("channel", str, description="Staff only: a channel code, to see its prices.")


@extend_schema(parameters=[CHANNEL_PARAM])
class ProductListApi(generics.ListAPIView):
    """Products with variants and channel prices. A frontend sees only what its channel lists (whatever
    the stock: endless aisle); staff see every active product, with ``?channel=`` for one channel's prices."""

    permission_classes = [IsStaffOrChannel]
    serializer_class = ProductSerializer
    filterset_class = ProductFilter

    def get_queryset(self):
        channel = request_channel(self.request)
        return selectors.product_list(
            channel=channel,
            category_path=self.request.query_params.get("category"),
            search=self.request.query_params.get("q"),
            listed_only=is_channel_request(self.request),
        )

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}


@extend_schema(parameters=[CHANNEL_PARAM])
class ProductDetailApi(APIView):
    permission_classes = [IsStaffOrChannel]
    serializer_class = ProductSerializer

    def get(self, request, style_code: str):
        channel = request_channel(request)
        product = (
            selectors.product_list(channel=channel, listed_only=is_channel_request(request))
            .filter(style_code=style_code)
            .first()
        )
        if product is None:
            raise NotFoundError(f"Product {style_code} not found.")
        return Response(ProductSerializer(product, context={"now": timezone.now(), "request": request}).data)
