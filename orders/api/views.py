"""Orders over HTTP, for frontends (channel key, with the member's ``X-Member-Token`` when logged in) and
for staff (the POS, endless aisle, shipping, pickup and returns at their store). Every POST that moves
money or stock takes an ``Idempotency-Key``. A frontend sees only its own channel's orders (and, with a
member token, that member's orders from every channel); staff see their store's."""

import json

from django.db.models import Q
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from members.api.throttles import CouponThrottle
from members.api.views import IsMember
from members.auth import member_from_token
from members.models import Member
from omo.core.errors import ApplicationError, BusinessRuleError, NotFoundError
from omo.core.idempotency import idempotent
from omo.events import signing
from omo.org.access import scope_to_user
from omo.org.api.permissions import IsChannel, IsStaff, IsStaffOrChannel, is_channel_request
from omo.org.models import Location
from omo.org.selectors import pos_channel, resolve_locations
from orders import inbound, pricing, selectors, services
from orders.api.throttles import OrderPlaceThrottle
from orders.models import InboundOrder, Order, OrderLine, Return

# Every POST that moves money or stock takes the header (omo/core/idempotency.py).
IDEMPOTENCY_KEY = [OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True)]


# --- serializers ------------------------------------------------------------------------------------


class SkuQuantitySerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=40)
    quantity = serializers.IntegerField(min_value=1, max_value=pricing.MAX_QUANTITY)


class DiscountSerializer(serializers.Serializer):
    source = serializers.CharField()
    label = serializers.CharField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)


class QuoteLineSerializer(serializers.Serializer):
    sku = serializers.CharField(source="variant.sku")
    quantity = serializers.IntegerField()
    list_price = serializers.DecimalField(max_digits=14, decimal_places=2)
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=2)
    subtotal = serializers.DecimalField(max_digits=14, decimal_places=2)
    discount = serializers.DecimalField(max_digits=14, decimal_places=2)
    net = serializers.DecimalField(max_digits=14, decimal_places=2)
    tax = serializers.DecimalField(max_digits=14, decimal_places=2)
    points = serializers.IntegerField(help_text="Points redeemed on this line.")
    discounts = DiscountSerializer(many=True)


class CouponResultSerializer(serializers.Serializer):
    applies = serializers.BooleanField()
    discount = serializers.DecimalField(max_digits=14, decimal_places=2)
    reasons = serializers.ListField(child=serializers.DictField())


class QuoteSerializer(serializers.Serializer):
    currency = serializers.CharField()
    lines = QuoteLineSerializer(many=True)
    discounts = DiscountSerializer(many=True, source="summary")
    subtotal = serializers.DecimalField(max_digits=14, decimal_places=2)
    discount_total = serializers.DecimalField(max_digits=14, decimal_places=2)
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    tax_total = serializers.DecimalField(max_digits=14, decimal_places=2)
    tax_rate = serializers.DecimalField(max_digits=5, decimal_places=4)
    coupon = CouponResultSerializer(allow_null=True)
    points_redeemed = serializers.IntegerField()
    points_value = serializers.DecimalField(max_digits=14, decimal_places=2)
    points_to_earn = serializers.IntegerField()


class OrderLineSerializer(serializers.ModelSerializer):
    discounts = DiscountSerializer(many=True)

    class Meta:
        model = OrderLine
        fields = [
            "id",
            "sku",
            "name",
            "quantity",
            "list_price",
            "unit_price",
            "discount",
            "net",
            "tax",
            "points_redeemed",
            "fulfilled_quantity",
            "returned_quantity",
            "refunded_amount",
            "discounts",
        ]


class PaymentSerializer(serializers.Serializer):
    tender = serializers.CharField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    status = serializers.CharField()
    refunded_amount = serializers.DecimalField(max_digits=14, decimal_places=2)


class HistorySerializer(serializers.Serializer):
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    at = serializers.DateTimeField()
    note = serializers.CharField()


class FulfilmentSerializer(serializers.Serializer):
    kind = serializers.CharField()
    location = serializers.CharField(source="location.code")
    tracking = serializers.CharField()
    at = serializers.DateTimeField()
    lines = serializers.SerializerMethodField()

    def get_lines(self, fulfilment) -> list[dict]:
        return [{"sku": fl.line.sku, "quantity": fl.quantity, "lots": fl.lots} for fl in fulfilment.lines.all()]


class OrderSerializer(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel.code")
    store = serializers.CharField(source="store.code", default=None, allow_null=True)
    member = serializers.CharField(source="member.member_no", default=None, allow_null=True)
    lines = OrderLineSerializer(many=True)
    payments = PaymentSerializer(many=True)
    history = HistorySerializer(many=True)
    fulfilments = FulfilmentSerializer(many=True)
    amount_due = serializers.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        model = Order
        fields = [
            "number",
            "channel",
            "store",
            "member",
            "fulfilment",
            "status",
            "currency",
            "subtotal",
            "discount_total",
            "total",
            "tax_total",
            "tax_rate",
            "shipping_fee",
            "points_redeemed",
            "points_earned",
            "coupon_code",
            "paid_total",
            "refunded_total",
            "amount_due",
            "pickup_code",
            "shipping_address",
            "invoice",
            "placed_at",
            "pay_by",
            "paid_at",
            "ready_at",
            "completed_at",
            "cancelled_at",
            "lines",
            "payments",
            "fulfilments",
            "history",
        ]


class OrderSummarySerializer(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel.code")
    store = serializers.CharField(source="store.code", default=None, allow_null=True)

    class Meta:
        model = Order
        fields = ["number", "channel", "store", "fulfilment", "status", "total", "placed_at", "paid_at"]


class ReturnSerializer(serializers.ModelSerializer):
    order = serializers.CharField(source="order.number")
    channel = serializers.CharField(source="channel.code")
    store = serializers.CharField(source="store.code", default=None, allow_null=True)
    lines = serializers.SerializerMethodField()

    class Meta:
        model = Return
        fields = [
            "number",
            "order",
            "channel",
            "store",
            "refund_to",
            "amount",
            "points_given_back",
            "points_taken_back",
            "reason",
            "created_at",
            "lines",
        ]

    def get_lines(self, ret) -> list[dict]:
        return [
            {"sku": rl.line.sku, "quantity": rl.quantity, "amount": str(rl.amount), "disposition": rl.disposition}
            for rl in ret.lines.select_related("line")
        ]


# --- who is calling ---------------------------------------------------------------------------------


def _caller(request, member_no: str | None = None):
    """(channel, member, store, clerk, actor) for the request. A frontend: its channel and the member of
    the token (if any). Staff: the POS channel (or ``channel``), their store, themselves; a member by
    number."""
    if is_channel_request(request):
        token = request.META.get("HTTP_X_MEMBER_TOKEN", "")
        member = member_from_token(token) if token else None
        if token and member is None:
            raise ApplicationError(
                "The member token is not valid; log the member in again.", code="invalid_member_token"
            )
        return request.auth.channel, member, None, None, None
    profile = getattr(request.user, "staff_profile", None)
    store = profile.home_store if profile else None
    channel = pos_channel()
    member = None
    if member_no:
        member = Member.objects.filter(member_no=member_no, status=Member.Status.ACTIVE).first()
        if member is None:
            raise NotFoundError("No member found.", code="member_not_found")
    return channel, member, store, request.user, request.user


def _acting(request) -> dict:
    """Who a status change is recorded against: the staff member, or the frontend's channel."""
    if is_channel_request(request):
        return {"actor": None, "channel": request.auth.channel}
    return {"actor": request.user, "channel": None}


def _store(code: str | None, default=None) -> Location | None:
    if not code:
        return default
    return resolve_locations([code])[code]


def _visible_orders(request):
    orders = Order.objects.all()
    if is_channel_request(request):
        token = request.META.get("HTTP_X_MEMBER_TOKEN", "")
        if token:
            if getattr(request, "_token_member", (None, None))[0] != token:  # read once a request
                request._token_member = (token, member_from_token(token))
            member = request._token_member[1]
            if member is None:  # never fall back to the whole channel's orders
                raise ApplicationError(
                    "The member token is not valid; log the member in again.", code="invalid_member_token"
                )
            return orders.filter(Q(member=member) | Q(member__merged_into=member))  # every channel's
        return orders.filter(channel=request.auth.channel)
    return scope_to_user(orders, request.user)


def _own_channel(request, order: Order) -> None:
    """A frontend changes only its own channel's orders: a store sale is paid, cancelled and returned
    at a store (its money may be cash in a till)."""
    if is_channel_request(request) and order.channel_id != request.auth.channel.pk:
        raise BusinessRuleError(
            "This order was bought through another channel: it is handled there or at a store.",
            code="other_channel_order",
        )


def _order(request, number: str, *, detail: bool = True) -> Order:
    """The caller's order by number (404 ``order_not_found``); ``detail=False`` reads the order row alone,
    for a write whose service locks and reads it again."""
    orders = _visible_orders(request)
    orders = selectors.order_detail_queryset(orders) if detail else orders.select_related("channel", "store")
    order = orders.filter(number=number).first()
    if order is None:
        raise NotFoundError("No such order.", code="order_not_found")
    return order


# --- views ------------------------------------------------------------------------------------------


class QuoteApi(APIView):
    """Prices a cart without placing anything and explains each discount; a coupon that does not apply
    comes back with its reasons. With a coupon it counts against the coupon-check limit."""

    permission_classes = [IsStaffOrChannel]
    throttle_classes = [CouponThrottle]
    coupon_throttle_optional = True  # a quote without a coupon is not limited

    class InputSerializer(serializers.Serializer):
        lines = SkuQuantitySerializer(many=True, min_length=1, max_length=pricing.MAX_LINES)
        store = serializers.CharField(max_length=20, required=False)
        coupon = serializers.CharField(max_length=32, required=False, default="")
        points = serializers.IntegerField(min_value=0, required=False, default=0)
        member_no = serializers.CharField(max_length=12, required=False, help_text="Staff: the member at the counter.")

    @extend_schema(request=InputSerializer, responses=QuoteSerializer)
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        channel, member, store, _clerk, _actor = _caller(request, v.get("member_no"))
        result = pricing.quote(
            channel=channel,
            lines=[(line["sku"], line["quantity"]) for line in v["lines"]],
            member=member,
            store=_store(v.get("store"), store),
            coupon_code=v["coupon"],
            points=v["points"],
        )
        return Response(QuoteSerializer(result).data)


_OPTIONAL_TEXT = {"store": 20, "source": 20, "coupon": 32, "referral_code": 12, "member_no": 12}


def _plain_order_body(data) -> dict | None:
    """The placed-order body checked without building the serializer (DRF copies its fields on every
    request, a large part of a flash-sale request's time): only a body the InputSerializer would
    accept as it is passes; anything else returns None and is checked (and explained) by the
    serializer."""
    if not isinstance(data, dict) or not set(data) <= {
        "lines",
        "fulfilment",
        "shipping_address",
        "points",
        *_OPTIONAL_TEXT,
    }:
        return None
    lines = data.get("lines")
    if not isinstance(lines, list) or not 1 <= len(lines) <= pricing.MAX_LINES:
        return None
    clean_lines = []
    for line in lines:
        if not isinstance(line, dict) or set(line) != {"sku", "quantity"}:
            return None
        sku, quantity = line["sku"], line["quantity"]
        if not isinstance(sku, str) or not 0 < len(sku.strip()) <= 40 or len(sku) > 40:
            return None
        if type(quantity) is not int or not 1 <= quantity <= pricing.MAX_QUANTITY:
            return None
        clean_lines.append({"sku": sku.strip(), "quantity": quantity})
    if data.get("fulfilment") not in Order.Fulfilment.values:
        return None
    out = {"lines": clean_lines, "fulfilment": data["fulfilment"], "coupon": "", "points": 0, "referral_code": ""}
    for name, longest in _OPTIONAL_TEXT.items():
        if name in data:
            value = data[name]
            if not isinstance(value, str) or len(value) > longest or not value.strip():
                return None
            out[name] = value.strip()
    if "points" in data:
        if type(data["points"]) is not int or data["points"] < 0:
            return None
        out["points"] = data["points"]
    if "shipping_address" in data:
        address = data["shipping_address"]
        if not isinstance(address, dict) or not all(
            isinstance(v, str) and v.strip() and len(v) <= 200 for v in address.values()
        ):
            return None
        out["shipping_address"] = {k: v.strip() for k, v in address.items()}
    return out


def _override_manager(override: dict | None, store):
    """The store manager who allows a counter sale beyond the stock record, by name and PIN."""
    if not override:
        return None
    from omo.org.services import staff_pin_check

    if store is None:
        raise ApplicationError("An override is for a counter sale at a store.", code="store_required")
    return staff_pin_check(username=override.get("manager", ""), pin=override.get("pin", ""), store_id=store.pk)


class OrderListCreateApi(APIView):
    """``POST``: places an order (``Idempotency-Key`` required). ``GET``: the caller's orders, newest
    first (a frontend with a member token: that member's orders from every channel). Placing is rate
    limited per shopper and per channel key (429 ``rate_limited``, nothing placed)."""

    permission_classes = [IsStaffOrChannel]
    throttle_classes = [OrderPlaceThrottle]

    class InputSerializer(serializers.Serializer):
        lines = SkuQuantitySerializer(many=True, min_length=1, max_length=pricing.MAX_LINES)
        fulfilment = serializers.ChoiceField(Order.Fulfilment.choices)
        store = serializers.CharField(max_length=20, required=False, help_text="Pickup store, or the selling store.")
        source = serializers.CharField(
            max_length=20, required=False, help_text="Staff: ship from here (endless aisle)."
        )
        shipping_address = serializers.DictField(child=serializers.CharField(max_length=200), required=False)
        coupon = serializers.CharField(max_length=32, required=False, default="")
        points = serializers.IntegerField(min_value=0, required=False, default=0)
        referral_code = serializers.CharField(max_length=12, required=False, default="")
        member_no = serializers.CharField(max_length=12, required=False)
        invoice = serializers.DictField(
            child=serializers.CharField(max_length=100),
            required=False,
            help_text='Taiwan e-invoice: {"carrier": "/ABC+123"} or {"tax_id": "22099131", "title": "..."}.',
        )
        override = serializers.DictField(
            child=serializers.CharField(max_length=150),
            required=False,
            help_text="Staff, a counter sale of goods in hand the stock record lacks: manager and pin.",
        )

    @extend_schema(responses=OrderSummarySerializer(many=True))
    def get(self, request):
        orders = _visible_orders(request).select_related("channel", "store").order_by("-placed_at")[:100]
        return Response(OrderSummarySerializer(orders, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: OrderSerializer},
        parameters=IDEMPOTENCY_KEY,
    )
    @idempotent
    def post(self, request):
        v = _plain_order_body(request.data)
        if v is None:  # anything unusual, and every error, goes through the serializer
            data = self.InputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            v = data.validated_data
        channel, member, store, clerk, actor = _caller(request, v.get("member_no"))
        fulfilment = v["fulfilment"]
        store = _store(v.get("store"), store if fulfilment != Order.Fulfilment.SHIP or actor else None)
        order = services.order_place(
            channel=channel,
            lines=[(line["sku"], line["quantity"]) for line in v["lines"]],
            fulfilment=fulfilment,
            member=member,
            store=store,
            clerk=clerk,
            shipping_address=v.get("shipping_address"),
            coupon_code=v["coupon"],
            points=v["points"],
            referral_code=v["referral_code"],
            idempotency_key=request.idempotency_key,
            actor=actor,
            source=_store(v.get("source")) if actor else None,
            invoice=v.get("invoice"),
            override_by=_override_manager(v.get("override"), store) if actor else None,
        )
        if not hasattr(order, "written_lines"):  # an order placed before with this key
            order = selectors.order_detail_queryset(Order.objects.all()).get(pk=order.pk)
            return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)
        return Response(_placed(order), status=status.HTTP_201_CREATED)


def _placed(order: Order) -> dict:
    """The answer to a placed order, from what was just written (no second read: the flash-sale path).
    The same shape as the order detail."""
    money = lambda value: f"{value:.2f}"  # noqa: E731
    return {
        "number": order.number,
        "channel": order.channel.code,
        "store": order.store.code if order.store_id else None,
        "member": order.member.member_no if order.member_id else None,
        "fulfilment": order.fulfilment,
        "status": order.status,
        "currency": order.currency,
        "subtotal": money(order.subtotal),
        "discount_total": money(order.discount_total),
        "total": money(order.total),
        "tax_total": money(order.tax_total),
        "tax_rate": f"{order.tax_rate:.4f}",
        "shipping_fee": money(order.shipping_fee),
        "points_redeemed": order.points_redeemed,
        "points_earned": order.points_earned,
        "coupon_code": order.coupon_code,
        "paid_total": money(order.paid_total),
        "refunded_total": money(order.refunded_total),
        "amount_due": money(order.amount_due),
        "pickup_code": order.pickup_code,
        "shipping_address": order.shipping_address,
        "invoice": order.invoice,
        "placed_at": serializers.DateTimeField().to_representation(order.placed_at),
        "pay_by": serializers.DateTimeField().to_representation(order.pay_by) if order.pay_by else None,
        "paid_at": serializers.DateTimeField().to_representation(order.paid_at) if order.paid_at else None,
        "ready_at": None,
        "completed_at": serializers.DateTimeField().to_representation(order.completed_at)
        if order.completed_at
        else None,
        "cancelled_at": None,
        "lines": [
            {
                "id": line.pk,
                "sku": line.sku,
                "name": line.name,
                "quantity": line.quantity,
                "list_price": money(line.list_price),
                "unit_price": money(line.unit_price),
                "discount": money(line.discount),
                "net": money(line.net),
                "tax": money(line.tax),
                "points_redeemed": line.points_redeemed,
                "fulfilled_quantity": line.fulfilled_quantity,
                "returned_quantity": line.returned_quantity,
                "refunded_amount": money(line.refunded_amount),
                "discounts": [
                    {"source": d.source, "label": d.label, "amount": money(d.amount)} for d in line.written_discounts
                ],
            }
            for line in order.written_lines
        ],
        "payments": [],
        "fulfilments": [],
        "history": [],
    }


class OrderDetailApi(APIView):
    permission_classes = [IsStaffOrChannel]

    @extend_schema(responses=OrderSerializer)
    def get(self, request, number: str):
        return Response(OrderSerializer(_order(request, number)).data)


class OrderPayApi(APIView):
    """Pays an order in one or several tenders (cash and store credit: staff and members; cards and wallets
    through the gateway). 402 ``payment_declined`` when a tender fails; the rest stays paid."""

    permission_classes = [IsStaffOrChannel]

    class InputSerializer(serializers.Serializer):
        class TenderSerializer(serializers.Serializer):
            tender = serializers.ChoiceField(["cash", "card", "line_pay", "jko_pay", "store_credit"])
            amount = serializers.DecimalField(max_digits=14, decimal_places=2, required=False, min_value=0)
            token = serializers.CharField(max_length=200, required=False, default="")

        tenders = TenderSerializer(many=True, min_length=1, max_length=5)

    @extend_schema(
        request=InputSerializer,
        responses=OrderSerializer,
        parameters=IDEMPOTENCY_KEY,
    )
    @idempotent
    def post(self, request, number: str):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = _order(request, number, detail=False)
        _own_channel(request, order)
        tenders = data.validated_data["tenders"]
        if is_channel_request(request) and any(t["tender"] == "cash" for t in tenders):
            raise ApplicationError("Cash is taken at a store.", code="invalid_tender")
        services.order_pay(
            order=order,
            tenders=tenders,
            **_acting(request),
            idempotency_key=request.idempotency_key,
        )
        return Response(OrderSerializer(_order(request, number)).data)


class OrderCancelApi(APIView):
    permission_classes = [IsStaffOrChannel]

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=200, required=False, default="")

    @extend_schema(
        request=InputSerializer,
        responses=OrderSerializer,
        parameters=IDEMPOTENCY_KEY,
    )
    @idempotent
    def post(self, request, number: str):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = _order(request, number, detail=False)
        _own_channel(request, order)
        services.order_cancel(
            order=order,
            **_acting(request),
            reason=data.validated_data["reason"],
        )
        return Response(OrderSerializer(_order(request, number)).data)


class PickupStatusSerializer(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.CharField()
    store = serializers.CharField(source="store.code")
    store_name = serializers.CharField(source="store.name")
    pickup_code = serializers.CharField()
    ready_at = serializers.DateTimeField(allow_null=True)
    lines = serializers.SerializerMethodField()

    def get_lines(self, order) -> list[dict]:
        return [
            {"sku": line.sku, "quantity": line.quantity, "picked_up": line.fulfilled_quantity}
            for line in order.lines.all()
        ]


class PickupApi(APIView):
    """``GET``: where a pickup order stands. ``POST`` (staff at the store): hands over a batch, all that is
    left or ``lines`` (several batches are fine), checking the pickup code when given."""

    permission_classes = [IsStaffOrChannel]

    class InputSerializer(serializers.Serializer):
        pickup_code = serializers.CharField(max_length=8, required=False)
        lines = SkuQuantitySerializer(many=True, required=False)

    @extend_schema(responses=PickupStatusSerializer)
    def get(self, request, number: str):
        order = _order(request, number)
        if order.fulfilment != Order.Fulfilment.PICKUP:
            raise ApplicationError("This order is not a pickup order.", code="not_a_pickup_order")
        return Response(PickupStatusSerializer(order).data)

    @extend_schema(request=InputSerializer, responses=OrderSerializer)
    @idempotent
    def post(self, request, number: str):
        if is_channel_request(request):
            raise ApplicationError("Goods are handed over by staff at the store.", code="staff_only")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = _order(request, number)
        services.order_pickup(
            order=order,
            actor=request.user,
            quantities=_quantities(order, data.validated_data.get("lines")),
            pickup_code=data.validated_data.get("pickup_code"),
            idempotency_key=request.idempotency_key,
        )
        return Response(OrderSerializer(_order(request, number)).data)


def _quantities(order: Order, lines) -> dict[int, int] | None:
    if not lines:
        return None
    by_sku = {line.sku: line.pk for line in order.lines.all()}
    unknown = sorted({line["sku"] for line in lines} - set(by_sku))
    if unknown:
        raise ApplicationError("These SKUs are not on the order.", code="unknown_line", details={"skus": unknown})
    out: dict[int, int] = {}
    for line in lines:
        out[by_sku[line["sku"]]] = out.get(by_sku[line["sku"]], 0) + line["quantity"]
    return out


class ShipApi(APIView):
    """Staff ship what the order holds at ``location`` (a warehouse, or their store: 門市出貨)."""

    permission_classes = [IsStaff]

    class InputSerializer(serializers.Serializer):
        location = serializers.CharField(max_length=20)
        tracking = serializers.CharField(max_length=60, required=False, default="")
        lines = SkuQuantitySerializer(many=True, required=False)

    @extend_schema(request=InputSerializer, responses=OrderSerializer)
    @idempotent
    def post(self, request, number: str):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = selectors.order_detail_queryset(Order.objects.all()).filter(number=number).first()
        if order is None:
            raise NotFoundError("No such order.", code="order_not_found")
        services.order_ship(
            order=order,
            location=_store(data.validated_data["location"]),
            quantities=_quantities(order, data.validated_data.get("lines")),
            tracking=data.validated_data["tracking"],
            actor=request.user,
            idempotency_key=request.idempotency_key,
        )
        return Response(OrderSerializer(_order_any(number)).data)


def _order_any(number: str) -> Order:
    return selectors.order_detail_queryset(Order.objects.all()).get(number=number)


class ReturnCreateApi(APIView):
    """Returns lines of an order through the calling channel: a store (staff, goods back on the store's
    shelf unless damaged) or a frontend (goods sent back to the warehouse). Refunds exactly what the
    units cost, to the original tenders or to store credit."""

    permission_classes = [IsStaffOrChannel]

    class InputSerializer(serializers.Serializer):
        class ReturnLineSerializer(serializers.Serializer):
            sku = serializers.CharField(max_length=40)
            quantity = serializers.IntegerField(min_value=1, max_value=pricing.MAX_QUANTITY)
            disposition = serializers.ChoiceField(["restock", "damaged"], default="restock")

        lines = ReturnLineSerializer(many=True, min_length=1)
        refund_to = serializers.ChoiceField(["original", "store_credit"], default="original")
        reason = serializers.CharField(max_length=200, required=False, default="")

    @extend_schema(
        request=InputSerializer,
        responses={201: ReturnSerializer},
        parameters=IDEMPOTENCY_KEY,
    )
    @idempotent
    def post(self, request, number: str):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if is_channel_request(request):
            order = _order(request, number)
            _own_channel(request, order)
            channel, store, actor = request.auth.channel, None, None
            location = selectors.return_location(channel)
        else:
            # staff take back any order (an online order returned in the store): found unscoped
            order = Order.objects.filter(number=number).first()
            if order is None:
                raise NotFoundError("No such order.", code="order_not_found")
            channel, _member, store, _clerk, actor = _caller(request)
            location = store
        by_sku = {line.sku: line.pk for line in order.lines.all()}
        unknown = sorted({line["sku"] for line in v["lines"]} - set(by_sku))
        if unknown:
            raise ApplicationError("These SKUs are not on the order.", code="unknown_line", details={"skus": unknown})
        ret = services.return_create(
            order=order,
            lines=[
                {
                    "line": by_sku[line["sku"]],
                    "quantity": line["quantity"],
                    "disposition": line["disposition"],
                    "location": location,
                }
                for line in v["lines"]
            ],
            channel=channel,
            store=store,
            refund_to=v["refund_to"],
            reason=v["reason"],
            actor=actor,
            idempotency_key=request.idempotency_key,
        )
        return Response(ReturnSerializer(ret).data, status=status.HTTP_201_CREATED)


class MyOrdersApi(generics.ListAPIView):
    """The logged-in member's orders from every channel (web, app, marketplace and the stores)."""

    permission_classes = [IsMember]
    serializer_class = OrderSummarySerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Order.objects.none()
        member = self.request.member
        return (
            Order.objects.filter(Q(member=member) | Q(member__merged_into=member))
            .select_related("channel", "store")
            .order_by("-placed_at")
        )


class ExchangeApi(APIView):
    """Staff exchange at the counter: the returned lines' value pays a new counter sale at their store;
    the difference is refunded to the original tenders or stays due on the new sale."""

    permission_classes = [IsStaff]

    class InputSerializer(serializers.Serializer):
        returns = ReturnCreateApi.InputSerializer.ReturnLineSerializer(many=True, min_length=1)
        lines = SkuQuantitySerializer(many=True, min_length=1, max_length=pricing.MAX_LINES)
        reason = serializers.CharField(max_length=200, required=False, default="")

    class OutputSerializer(serializers.Serializer):
        ret = ReturnSerializer(source="0")
        order = OrderSerializer(source="1")

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer},
        parameters=IDEMPOTENCY_KEY,
    )
    @idempotent
    def post(self, request, number: str):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        order = Order.objects.filter(number=number).first()
        if order is None:
            raise NotFoundError("No such order.", code="order_not_found")
        _channel, _member, store, _clerk, actor = _caller(request)
        if store is None:
            raise ApplicationError("Exchanges are made at a store.", code="store_required")
        by_sku = {line.sku: line.pk for line in order.lines.all()}
        unknown = sorted({line["sku"] for line in v["returns"]} - set(by_sku))
        if unknown:
            raise ApplicationError("These SKUs are not on the order.", code="unknown_line", details={"skus": unknown})
        ret, new = services.order_exchange(
            order=order,
            return_lines=[
                {
                    "line": by_sku[x["sku"]],
                    "quantity": x["quantity"],
                    "disposition": x["disposition"],
                    "location": store,
                }
                for x in v["returns"]
            ],
            new_lines=[(x["sku"], x["quantity"]) for x in v["lines"]],
            store=store,
            actor=actor,
            reason=v["reason"],
        )
        body = {"ret": ReturnSerializer(ret).data, "order": OrderSerializer(_order_any(new.number)).data}
        return Response(body, status=status.HTTP_201_CREATED)


# --- orders coming in from marketplaces -------------------------------------------------------------


class InboundOrderInputSerializer(serializers.Serializer):
    """A marketplace's order, as its connector posts it (the inbound contract)."""

    class BuyerSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        phone = serializers.CharField(
            max_length=40,
            required=False,
            allow_blank=True,
            default="",
            help_text="Matched to an existing member (then email); a masked number matches no one.",
        )
        email = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    class LineSerializer(serializers.Serializer):
        sku = serializers.CharField(
            max_length=64, help_text="Our SKU, or the marketplace's own SKU mapped to ours by HQ."
        )
        quantity = serializers.IntegerField(min_value=1, max_value=pricing.MAX_QUANTITY)
        unit_price = serializers.DecimalField(
            max_digits=14,
            decimal_places=2,
            min_value=0,
            help_text="What the buyer paid for one unit, tax included, after the marketplace's discounts.",
        )

    class AddressSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        phone = serializers.CharField(max_length=200)
        address = serializers.CharField(max_length=200)
        postcode = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        city = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    marketplace_order_id = serializers.RegexField(
        r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$",
        help_text="The marketplace's order id: 1-64 letters, digits, '.', '_', ':' or '-'. Idempotency key.",
    )
    placed_at = serializers.DateTimeField(help_text="When the buyer ordered, ISO 8601 with a time zone.")
    buyer = BuyerSerializer(required=False)
    lines = LineSerializer(many=True, min_length=1, max_length=pricing.MAX_LINES)
    shipping_fee = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, default=0)
    shipping_address = AddressSerializer()
    paid_amount = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=0,
        help_text="What the marketplace collected: exactly the lines (quantity x unit_price) plus shipping_fee.",
    )
    payment_reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class InboundOrderSerializer(serializers.Serializer):
    """An inbound marketplace order: ``placed`` with its order, ``review`` with the problems HQ is
    fixing, or ``rejected`` with the reason."""

    class ProblemSerializer(serializers.Serializer):
        code = serializers.CharField()
        message = serializers.CharField()
        details = serializers.DictField()

    marketplace_order_id = serializers.CharField()
    status = serializers.ChoiceField(InboundOrder.Status.choices)
    problems = ProblemSerializer(many=True)
    received_at = serializers.DateTimeField()
    attempts = serializers.IntegerField()
    rejected_at = serializers.DateTimeField(allow_null=True)
    reject_reason = serializers.CharField()
    order = serializers.SerializerMethodField()

    @extend_schema_field(OrderSerializer(allow_null=True))
    def get_order(self, record) -> dict | None:
        if not record.order_id:
            return None
        return OrderSerializer(selectors.order_detail_queryset(Order.objects.all()).get(pk=record.order_id)).data


def _inbound_answer(record: InboundOrder, created: bool) -> Response:
    code = {
        InboundOrder.Status.PLACED: status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        InboundOrder.Status.REVIEW: status.HTTP_202_ACCEPTED,
    }.get(record.status, status.HTTP_200_OK)
    return Response(InboundOrderSerializer(record).data, status=code)


class InboundOrderApi(APIView):
    """A marketplace's order coming in (``POST``), called by the marketplace's connector with the
    marketplace channel's API key (``X-Api-Key``) and signed with the channel's inbound secret (HQ:
    admin, Marketplace inbound settings): ``X-OMO-Timestamp`` is the Unix time of sending,
    ``X-OMO-Signature`` is ``v1=`` + hex HMAC-SHA256 of ``"<timestamp>.<raw body>"``; five minutes of
    tolerance.

    Body (JSON): ``marketplace_order_id``; ``placed_at`` (ISO 8601); ``buyer`` {``name``, ``phone``,
    ``email``} (optional); ``lines`` [{``sku``, ``quantity``, ``unit_price``}]; ``shipping_fee``;
    ``shipping_address`` {``name``, ``phone``, ``address``, ``postcode``, ``city``};
    ``paid_amount`` (= Σ quantity × unit_price + shipping_fee); ``payment_reference``.

    Answers, each with the inbound record (and its order once placed):
    - 201: the order is placed (delivery, allocated as the channel's other orders) and paid with the
      money the marketplace collected;
    - 200: the same order was sent before with the same contents (a retry or a replay): nothing new;
    - 202: kept for review (``status`` ``review``, ``problems`` list what stops it: ``unknown_sku``,
      ``sku_inactive``, ``insufficient_stock``...); HQ retries it once fixed or rejects it; sending it
      again answers 202 until then;
    - 409 ``inbound_order_changed``: the id was sent before with other contents; nothing changed;
    - 401 ``signature_missing`` / ``signature_invalid`` / ``signature_expired``; 403
      ``not_a_marketplace``; 400 ``invalid``; 422 ``paid_amount_mismatch`` or
      ``inbound_not_configured``: nothing written.
    """

    permission_classes = [IsChannel]

    @extend_schema(
        request=InboundOrderInputSerializer,
        responses={201: InboundOrderSerializer, 200: InboundOrderSerializer, 202: InboundOrderSerializer},
        parameters=[
            OpenApiParameter(signing.TIMESTAMP_HEADER, str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter(signing.SIGNATURE_HEADER, str, OpenApiParameter.HEADER, required=True),
        ],
    )
    def post(self, request):
        body = request.body  # the raw bytes the signature covers, read before anything parses them
        channel = inbound.ensure_marketplace(request.auth.channel)
        inbound.inbound_signature_verify(
            channel=channel,
            body=body,
            timestamp=request.headers.get(signing.TIMESTAMP_HEADER),
            signature_header=request.headers.get(signing.SIGNATURE_HEADER),
        )
        try:
            raw = json.loads(body)
        except ValueError:
            raise ApplicationError(_("The body is not JSON."), code="invalid_json") from None
        data = InboundOrderInputSerializer(data=raw)
        data.is_valid(raise_exception=True)
        record, created = inbound.inbound_order_receive(channel=channel, data=data.validated_data)
        return _inbound_answer(record, created)


class InboundOrderDetailApi(APIView):
    """Where a marketplace order stands (its own channel's only), by the marketplace's order id."""

    permission_classes = [IsChannel]

    @extend_schema(responses=InboundOrderSerializer)
    def get(self, request, marketplace_order_id: str):
        channel = inbound.ensure_marketplace(request.auth.channel)
        record = selectors.inbound_order_of(channel, marketplace_order_id)
        return Response(InboundOrderSerializer(record).data)
