"""The stock pool over HTTP: availability for frontends and the POS, reservations, and the staff's
stock, movements, transfers and expiring lots (all scoped to the caller's store)."""

from datetime import timedelta

import django_filters
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api.views import request_channel
from catalog.services import resolve_skus
from inventory import allocation, selectors, services
from inventory.models import ChannelStockFeed, ChannelStockPublished, StockLevel, StockMovement, Transfer
from omo.core.errors import ApplicationError, NotFoundError
from omo.org.access import get_scoped
from omo.org.api.permissions import IsChannel, IsStaff, IsStaffOrChannel, is_channel_request, model_permission
from omo.org.selectors import resolve_locations

MAX_SKUS = 100


class LineSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=40)
    quantity = serializers.IntegerField(min_value=1, max_value=100_000)


class LocatedLineSerializer(LineSerializer):
    location = serializers.CharField(max_length=20, required=False)


class LocationAtpSerializer(serializers.Serializer):
    location = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField(required=False)
    atp = serializers.IntegerField()


class AvailabilitySerializer(serializers.Serializer):
    sku = serializers.CharField()
    total_atp = serializers.IntegerField()
    ship_atp = serializers.IntegerField(help_text="What the calling channel's shipping locations hold.")
    order_to_store = serializers.BooleanField(help_text="Can be shipped to any store for pickup (endless aisle).")
    pickup_stores = LocationAtpSerializer(many=True)
    locations = LocationAtpSerializer(many=True)


class AvailabilitySummarySerializer(serializers.Serializer):
    sku = serializers.CharField()
    total_atp = serializers.IntegerField()
    ship_atp = serializers.IntegerField(help_text="What the calling channel's shipping locations hold.")
    order_to_store = serializers.BooleanField(help_text="Can be shipped to any store for pickup (endless aisle).")
    pickup_store_count = serializers.IntegerField(help_text="Stores that can hand it over now.")


@extend_schema(
    parameters=[
        OpenApiParameter("sku", str, many=True, description="Up to 100; repeat the parameter or use commas."),
        OpenApiParameter("detail", bool, description="1: every location's ATP and the pickup stores (heavier)."),
    ],
    responses=AvailabilitySummarySerializer(many=True),
)
class AvailabilityListApi(APIView):
    """Availability of up to 100 SKUs at once (a listing page): a summary per SKU in two queries, or
    with ``detail=1`` every location's ATP in three, whatever the number of locations."""

    permission_classes = [IsStaffOrChannel]

    def get(self, request):
        skus = [s.strip() for raw in request.query_params.getlist("sku") for s in raw.split(",") if s.strip()]
        if not skus:
            raise ApplicationError("Give at least one sku.", code="no_skus")
        if len(set(skus)) > MAX_SKUS:
            raise ApplicationError(f"At most {MAX_SKUS} SKUs at once.", code="too_many_skus")
        channel = request_channel(request)
        ordered = list(dict.fromkeys(skus))
        if request.query_params.get("detail") in ("1", "true"):
            variants = resolve_skus(skus, light=True)
            result = selectors.availability(variants=list(variants.values()), channel=channel)
            return Response(AvailabilitySerializer([result[s] for s in ordered], many=True).data)
        summary = selectors.availability_summary(skus=ordered, channel=channel)
        missing = [s for s in ordered if s not in summary]
        if missing:
            raise ApplicationError(
                f"Unknown SKU: {', '.join(missing)}.", code="unknown_sku", details={"skus": sorted(missing)}
            )
        rows = [{"sku": s, **summary[s], "order_to_store": summary[s]["ship_atp"] > 0} for s in ordered]
        return Response(AvailabilitySummarySerializer(rows, many=True).data)


class AvailabilityDetailApi(APIView):
    permission_classes = [IsStaffOrChannel]

    @extend_schema(responses=AvailabilitySerializer)
    def get(self, request, sku: str):
        variant = resolve_skus([sku])[sku]
        result = selectors.availability(variants=[variant], channel=request_channel(request))
        return Response(AvailabilitySerializer(result[sku]).data)


class CartPickupApi(APIView):
    """The stores that can hand over a whole cart now."""

    permission_classes = [IsStaffOrChannel]

    class InputSerializer(serializers.Serializer):
        lines = LineSerializer(many=True, min_length=1, max_length=MAX_SKUS)

    class OutputSerializer(serializers.Serializer):
        stores = LocationAtpSerializer(many=True)

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lines = data.validated_data["lines"]
        variants = resolve_skus([line["sku"] for line in lines])
        stores = selectors.cart_pickup_stores(
            lines=[(variants[line["sku"]], line["quantity"]) for line in lines], channel=request_channel(request)
        )
        return Response({"stores": stores})


class ReservationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField(source="variant.sku")
    location = serializers.CharField(source="location.code")
    quantity = serializers.IntegerField()
    status = serializers.CharField()
    reference = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)


class ReservationCreateApi(APIView):
    """Holds stock for a cart or an order: all lines or none (409 ``insufficient_stock`` naming each
    short SKU and what is available). Lines name their location, or the channel allocates them:
    ``pickup_store`` for pickup, otherwise the channel's delivery strategy."""

    permission_classes = [IsStaffOrChannel]

    class InputSerializer(serializers.Serializer):
        reference = serializers.CharField(max_length=48)
        lines = LocatedLineSerializer(many=True, min_length=1, max_length=services.MAX_LINES)
        pickup_store = serializers.CharField(max_length=20, required=False)
        ttl_seconds = serializers.IntegerField(min_value=60, max_value=7 * 24 * 3600, default=1800)

    @extend_schema(request=InputSerializer, responses={201: ReservationOutputSerializer(many=True)})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payload = data.validated_data
        channel = request_channel(request)
        lines = payload["lines"]
        variants = resolve_skus([line["sku"] for line in lines])
        codes = [line["location"] for line in lines if line.get("location")]
        if payload.get("pickup_store"):
            codes.append(payload["pickup_store"])
        locations = resolve_locations(codes) if codes else {}
        if all(line.get("location") for line in lines):
            plan = [services.StockLine(variants[ln["sku"]], locations[ln["location"]], ln["quantity"]) for ln in lines]
        elif any(line.get("location") for line in lines):
            raise ApplicationError("Either every line names its location or none does.", code="mixed_lines")
        elif channel is None:
            raise ApplicationError("Name the locations, or call with a channel to allocate.", code="channel_required")
        else:
            plan = allocation.allocation_plan(
                channel=channel,
                lines=[(variants[ln["sku"]], ln["quantity"]) for ln in lines],
                pickup_store=locations.get(payload.get("pickup_store")),
            )
        reference = _namespaced(request, payload["reference"])
        reservations = services.reservation_create(
            lines=plan,
            reference=reference,
            channel=channel,
            ttl=timedelta(seconds=payload["ttl_seconds"]),
            actor=None if is_channel_request(request) else request.user,
        )
        for reservation in reservations:
            reservation.variant = next(v for v in variants.values() if v.pk == reservation.variant_id)
            reservation.location = next(p.location for p in plan if p.location.pk == reservation.location_id)
        return Response(ReservationOutputSerializer(reservations, many=True).data, status=status.HTTP_201_CREATED)


def _namespaced(request, reference: str) -> str:
    """A frontend's references live under its channel code and a staff member's under their own id,
    so nobody releases somebody else's hold by guessing its name."""
    if is_channel_request(request):
        return f"{request.auth.channel.code}:{reference}"
    return f"staff{request.user.pk}:{reference}"


class ReservationReleaseApi(APIView):
    """Gives back what a reference holds (a cart emptied or abandoned). Idempotent."""

    permission_classes = [IsStaffOrChannel]

    class InputSerializer(serializers.Serializer):
        reference = serializers.CharField(max_length=48)

    class OutputSerializer(serializers.Serializer):
        released = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        released = services.reservation_release(reference=_namespaced(request, data.validated_data["reference"]))
        return Response({"released": released})


class StockLevelSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="variant.sku")
    location = serializers.CharField(source="location.code")
    atp = serializers.IntegerField(source="atp_value")

    class Meta:
        model = StockLevel
        fields = [
            "sku",
            "location",
            "on_hand",
            "reserved",
            "safety_stock",
            "atp",
            "min_level",
            "max_level",
            "updated_at",
        ]


class StockLevelFilter(django_filters.FilterSet):
    location = django_filters.CharFilter(field_name="location__code")
    sku = django_filters.CharFilter(field_name="variant__sku")
    style = django_filters.CharFilter(field_name="variant__product__style_code")

    class Meta:
        model = StockLevel
        fields = ["location", "sku", "style"]


class StockLevelListApi(generics.ListAPIView):
    """Stock levels the caller may see (a store's staff: their store)."""

    permission_classes = [IsStaff, model_permission("inventory.view_stocklevel")]
    serializer_class = StockLevelSerializer
    filterset_class = StockLevelFilter

    def get_queryset(self):
        return selectors.stock_level_list(user=self.request.user).order_by("location__code", "variant__sku")


class MovementSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="variant.sku")
    location = serializers.CharField(source="location.code")
    lot = serializers.CharField(source="lot.code", default=None, allow_null=True)
    by = serializers.CharField(source="created_by.username", default=None, allow_null=True)

    class Meta:
        model = StockMovement
        fields = [
            "id",
            "sku",
            "location",
            "kind",
            "quantity",
            "on_hand_after",
            "lot",
            "unit_cost",
            "reason",
            "reference_type",
            "reference_id",
            "by",
            "created_at",
        ]


class MovementFilter(django_filters.FilterSet):
    location = django_filters.CharFilter(field_name="location__code")
    sku = django_filters.CharFilter(field_name="variant__sku")

    class Meta:
        model = StockMovement
        fields = ["location", "sku", "kind", "reference_type", "reference_id"]


class MovementListApi(generics.ListAPIView):
    permission_classes = [IsStaff, model_permission("inventory.view_stockmovement")]
    serializer_class = MovementSerializer
    filterset_class = MovementFilter

    def get_queryset(self):
        return selectors.movement_list(user=self.request.user).order_by("-id")


class TransferLineSerializer(serializers.Serializer):
    sku = serializers.CharField(source="variant.sku")
    quantity_requested = serializers.IntegerField()
    quantity_shipped = serializers.IntegerField()
    quantity_received = serializers.IntegerField()
    discrepancy_note = serializers.CharField()


class TransferSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField(source="__str__")
    origin = serializers.CharField(source="origin.code")
    destination = serializers.CharField(source="destination.code")
    status = serializers.CharField()
    kind = serializers.CharField()
    note = serializers.CharField()
    requested_at = serializers.DateTimeField()
    shipped_at = serializers.DateTimeField(allow_null=True)
    received_at = serializers.DateTimeField(allow_null=True)
    lines = TransferLineSerializer(many=True)


class TransferListCreateApi(generics.ListAPIView):
    """GET: transfers from or to the caller's store (all for HQ). POST: a transfer request; store
    staff request replenishment into their own store."""

    permission_classes = [IsStaff, model_permission("inventory.view_transfer")]
    serializer_class = TransferSerializer
    filterset_fields = ["status", "kind"]

    class InputSerializer(serializers.Serializer):
        origin = serializers.CharField(max_length=20)
        destination = serializers.CharField(max_length=20)
        note = serializers.CharField(max_length=300, required=False, default="")
        lines = LineSerializer(many=True, min_length=1, max_length=services.MAX_LINES)

    def get_queryset(self):
        return selectors.transfer_list(user=self.request.user).order_by("-id")

    @extend_schema(request=InputSerializer, responses={201: TransferSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payload = data.validated_data
        locations = resolve_locations([payload["origin"], payload["destination"]])
        variants = resolve_skus([line["sku"] for line in payload["lines"]])
        transfer = services.transfer_request(
            origin=locations[payload["origin"]],
            destination=locations[payload["destination"]],
            lines=[(variants[ln["sku"]], ln["quantity"]) for ln in payload["lines"]],
            actor=request.user,
            note=payload["note"],
        )
        return Response(TransferSerializer(_reload(transfer)).data, status=status.HTTP_201_CREATED)


def _reload(transfer: Transfer) -> Transfer:
    return (
        Transfer.objects.select_related("origin", "destination").prefetch_related("lines__variant").get(pk=transfer.pk)
    )


class TransferDetailApi(APIView):
    permission_classes = [IsStaff, model_permission("inventory.view_transfer")]

    @extend_schema(responses=TransferSerializer)
    def get(self, request, pk: int):
        return Response(
            TransferSerializer(get_scoped(selectors.transfer_list(user=request.user), request.user, pk=pk)).data
        )


class TransferActionApi(APIView):
    """``approve``, ``ship`` (optionally fewer: ``{"lines": [{"sku", "quantity"}]}``), ``receive``
    (counted quantities, with a note where they differ from what was shipped) or ``cancel``."""

    permission_classes = [IsStaff, model_permission("inventory.view_transfer")]
    action = ""

    class InputSerializer(serializers.Serializer):
        lines = serializers.ListField(child=serializers.DictField(), required=False, max_length=services.MAX_LINES)
        reason = serializers.CharField(max_length=200, required=False, default="")

    @extend_schema(request=InputSerializer, responses=TransferSerializer)
    def post(self, request, pk: int):
        transfer = get_scoped(selectors.transfer_list(user=request.user), request.user, pk=pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        raw_lines = data.validated_data.get("lines") or []
        variants = resolve_skus([str(line.get("sku", "")) for line in raw_lines]) if raw_lines else {}
        if self.action == "approve":
            services.transfer_approve(transfer=transfer, actor=request.user)
        elif self.action == "ship":
            services.transfer_ship(
                transfer=transfer,
                actor=request.user,
                quantities={variants[str(ln["sku"])].pk: ln.get("quantity") for ln in raw_lines},
            )
        elif self.action == "receive":
            services.transfer_receive(
                transfer=transfer,
                actor=request.user,
                received={
                    variants[str(ln["sku"])].pk: (ln.get("quantity"), str(ln.get("note", ""))) for ln in raw_lines
                },
            )
        else:
            services.transfer_cancel(transfer=transfer, actor=request.user, reason=data.validated_data["reason"])
        return Response(TransferSerializer(_reload(transfer)).data)


class LotExpiringSerializer(serializers.Serializer):
    sku = serializers.CharField(source="lot.variant.sku")
    lot = serializers.CharField(source="lot.code")
    expiry_date = serializers.DateField(source="lot.expiry_date")
    location = serializers.CharField(source="location.code")
    on_hand = serializers.IntegerField()


@extend_schema(parameters=[OpenApiParameter("days", int, description="Within this many days (default 30).")])
class LotExpiringListApi(generics.ListAPIView):
    """Lot stock that expires within N days (already expired included), soonest first."""

    permission_classes = [IsStaff, model_permission("inventory.view_lotstock")]
    serializer_class = LotExpiringSerializer

    def get_queryset(self):
        try:
            days = int(self.request.query_params.get("days", 30))
        except ValueError:
            raise ApplicationError("days must be a whole number.", code="invalid_days") from None
        if not 0 <= days <= 3650:
            raise ApplicationError("days must be between 0 and 3650.", code="invalid_days")
        return selectors.lots_expiring(user=self.request.user, within_days=days)


class ChannelStockSerializer(serializers.Serializer):
    sku = serializers.CharField(source="variant.sku")
    quantity = serializers.IntegerField(help_text="What this channel may sell now.")
    updated_at = serializers.DateTimeField(source="published_at")


class ChannelStockFilter(django_filters.FilterSet):
    updated_since = django_filters.IsoDateTimeFilter(
        field_name="published_at", lookup_expr="gte", help_text="Only quantities changed at or after this time."
    )
    sku = django_filters.CharFilter(field_name="variant__sku")

    class Meta:
        model = ChannelStockPublished
        fields = ["updated_since", "sku"]


class ChannelStockPagination(PageNumberPagination):
    page_size = 200
    page_size_query_param = "page_size"
    max_page_size = 1000


class ChannelStockListApi(generics.ListAPIView):
    """The calling channel's sellable quantity per SKU, as last pushed to it in ``channel.stock_changed``
    events (the same figures, to pull): oldest change first, ``updated_since`` for what changed since
    the last pull. A SKU that is not listed has never been sellable on the channel (0)."""

    permission_classes = [IsChannel]
    serializer_class = ChannelStockSerializer
    filterset_class = ChannelStockFilter
    pagination_class = ChannelStockPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator calls without a channel
            return ChannelStockPublished.objects.none()
        channel = self.request.auth.channel
        if not ChannelStockFeed.objects.filter(channel=channel, enabled=True).exists():
            raise NotFoundError(_("This channel has no stock feed."), code="stock_feed_disabled")
        return selectors.channel_stock_list(channel=channel)
