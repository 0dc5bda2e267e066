"""Members over HTTP: registration (deduplicated), and the clerk's lookup with masked personal data.
Member self-service (one-time-code login, wallet, wishlist) comes with the rest of the members issue."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from members import selectors, services
from members.api.throttles import CouponThrottle, LoginCodeThrottle, LoginVerifyThrottle
from members.models import Member, PointsEntry
from omo.core.errors import ApplicationError, NotFoundError
from omo.org.access import ensure_permission
from omo.org.api.permissions import IsStaff, IsStaffOrChannel, is_channel_request, model_permission


class MaskedMemberSerializer(serializers.Serializer):
    member_no = serializers.CharField()
    name = serializers.SerializerMethodField()
    phone = serializers.SerializerMethodField()
    email = serializers.SerializerMethodField()
    points_balance = serializers.IntegerField()
    points_available = serializers.SerializerMethodField()
    status = serializers.CharField()

    def get_name(self, member) -> str:
        return selectors.mask_name(member.name)

    def get_phone(self, member) -> str:
        return selectors.mask_phone(member.phone)

    def get_email(self, member) -> str:
        return selectors.mask_email(member.email)

    def get_points_available(self, member) -> int:
        return services.available_points(member, today=timezone.localdate())


class MemberRegisterApi(APIView):
    """Registers a member, or links these details to the member who already has one of them (200,
    ``created: false``). Store staff register at their own store and are recorded as the clerk."""

    permission_classes = [IsStaffOrChannel]

    class InputSerializer(serializers.Serializer):
        phone = serializers.CharField(max_length=30, required=False)
        email = serializers.CharField(max_length=254, required=False)
        name = serializers.CharField(max_length=100, required=False, default="")
        identities = serializers.DictField(child=serializers.CharField(max_length=128), required=False)
        consents = serializers.DictField(child=serializers.BooleanField(), required=False)
        referral_code = serializers.CharField(
            max_length=12, required=False, default="", help_text="Another member's or a clerk's referral code."
        )

    class OutputSerializer(MaskedMemberSerializer):
        created = serializers.SerializerMethodField()

        def get_created(self, member) -> bool:
            return self.context["created"]

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer, 200: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if is_channel_request(request):
            channel, store, clerk, source = request.auth.channel, None, None, request.auth.channel.code
        else:
            ensure_permission(request.user, "members.add_member")
            profile = getattr(request.user, "staff_profile", None)
            channel, store, clerk = None, profile.home_store if profile else None, request.user
            source = store.code if store else "HQ"
        result = services.member_register(
            channel=channel, store=store, clerk=clerk, source=source, **data.validated_data
        )
        body = self.OutputSerializer(result.member, context={"created": result.created}).data
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


@extend_schema(
    parameters=[
        OpenApiParameter("phone", str, description="As typed at the counter, e.g. 0912-345-678."),
        OpenApiParameter("code", str, description="A member number (member QR) or an identity, e.g. line:U123."),
    ]
)
class MemberLookupApi(APIView):
    """A clerk finds a member by phone or member QR; personal data comes back masked."""

    permission_classes = [IsStaff, model_permission("members.view_member")]

    @extend_schema(responses=MaskedMemberSerializer)
    def get(self, request):
        phone, code = request.query_params.get("phone"), request.query_params.get("code")
        if not (phone or code):
            raise ApplicationError("Give a phone or a code.", code="lookup_required")
        member = selectors.member_by_phone(phone) if phone else selectors.member_by_code(code)
        if member is None:
            raise NotFoundError("No member found.", code="member_not_found")
        return Response(MaskedMemberSerializer(member).data)


class PointsEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = PointsEntry
        fields = ["kind", "points", "balance_after", "reference", "reason", "created_at"]


class MemberPointsApi(generics.ListAPIView):
    """A member's points history, newest first."""

    permission_classes = [IsStaff, model_permission("members.view_pointsentry")]
    serializer_class = PointsEntrySerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return PointsEntry.objects.none()
        member = Member.objects.filter(member_no=self.kwargs["member_no"]).first()
        if member is None:
            raise NotFoundError("No member found.", code="member_not_found")
        return selectors.points_history(member=member)


class CartLineSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=40)
    quantity = serializers.IntegerField(min_value=1, max_value=10_000)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


def _member(member_no: str | None) -> Member | None:
    if not member_no:
        return None
    member = Member.objects.filter(member_no=member_no, status=Member.Status.ACTIVE).first()
    if member is None:
        raise NotFoundError("No member found.", code="member_not_found")
    return member


def _store(request, code: str | None):
    from omo.org.selectors import resolve_locations

    if code:
        return resolve_locations([code])[code]
    if not is_channel_request(request):
        profile = getattr(request.user, "staff_profile", None)
        return profile.home_store if profile else None
    return None


class CouponValidateApi(APIView):
    """Whether a coupon applies to a cart, the discount, and every reason when it does not. Rate limited
    per shopper and per channel key (429 ``rate_limited``)."""

    permission_classes = [IsStaffOrChannel]
    throttle_classes = [CouponThrottle]

    class InputSerializer(serializers.Serializer):
        code = serializers.CharField(max_length=32)
        member_no = serializers.CharField(max_length=12, required=False)
        store = serializers.CharField(max_length=20, required=False)
        lines = CartLineSerializer(many=True, max_length=200)

    class OutputSerializer(serializers.Serializer):
        applies = serializers.BooleanField()
        discount = serializers.DecimalField(max_digits=12, decimal_places=2)
        eligible_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
        reasons = ReasonSerializer(many=True)

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request):
        from catalog.services import resolve_skus
        from members.coupons import CartLine, coupon_validate

        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payload = data.validated_data
        variants = resolve_skus([line["sku"] for line in payload["lines"]]) if payload["lines"] else {}
        lines = [CartLine(variants[ln["sku"]], ln["quantity"], ln["unit_price"]) for ln in payload["lines"]]
        channel = request.auth.channel if is_channel_request(request) else None
        result = coupon_validate(
            code=payload["code"],
            lines=lines,
            member=_member(payload.get("member_no")),
            channel=channel,
            store=_store(request, payload.get("store")),
        )
        return Response(self.OutputSerializer(result).data)


class WalletCouponSerializer(serializers.Serializer):
    code = serializers.CharField(source="coupon.code")
    campaign = serializers.CharField(source="coupon.campaign.name")
    valid_until = serializers.DateTimeField(source="coupon.campaign.ends_at")
    used = serializers.SerializerMethodField()
    collected_at = serializers.DateTimeField()

    def get_used(self, wallet) -> bool:
        coupon = wallet.coupon
        return coupon.max_uses is not None and coupon.times_used >= coupon.max_uses


class MemberWalletApi(APIView):
    """GET: the member's coupon wallet (one wallet for every channel). POST ``{"code"}``: collect (a try
    of a code: counted against the coupon-check limit, 429 ``rate_limited``)."""

    permission_classes = [IsStaffOrChannel]
    throttle_classes = [CouponThrottle]  # POST only

    class InputSerializer(serializers.Serializer):
        code = serializers.CharField(max_length=32)

    @extend_schema(responses=WalletCouponSerializer(many=True))
    def get(self, request, member_no: str):
        member = _member(member_no)
        wallet = member.wallet.select_related("coupon__campaign").order_by("-collected_at")
        return Response(WalletCouponSerializer(wallet, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: WalletCouponSerializer})
    def post(self, request, member_no: str):
        from members.coupons import coupon_collect

        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        channel = request.auth.channel if is_channel_request(request) else None
        if not is_channel_request(request):
            ensure_permission(request.user, "members.add_walletcoupon")
        wallet = coupon_collect(
            member=_member(member_no), code=data.validated_data["code"], channel=channel, store=_store(request, None)
        )
        return Response(WalletCouponSerializer(wallet).data, status=status.HTTP_201_CREATED)


# --- member self-service: a frontend (channel key) acting for a logged-in member ---------------------


class IsMember(IsStaffOrChannel):
    """A frontend's call (channel key) carrying a member's token in ``X-Member-Token``."""

    message = "Log the member in first (X-Member-Token)."

    def has_permission(self, request, view):
        from members.auth import member_from_token

        if not is_channel_request(request):
            return False
        member = member_from_token(request.META.get("HTTP_X_MEMBER_TOKEN", ""))
        request.member = member
        return member is not None


class LoginCodeApi(APIView):
    """Sends a six-digit log-in code by SMS (at most 5 an hour per phone). Rate limited per phone, per
    shopper address and per channel key (429 ``rate_limited``, nothing sent)."""

    permission_classes = [IsStaffOrChannel]
    throttle_classes = [LoginCodeThrottle]

    class InputSerializer(serializers.Serializer):
        phone = serializers.CharField(max_length=30)

    @extend_schema(request=InputSerializer, responses={202: None})
    def post(self, request):
        from members.auth import login_code_send

        if not is_channel_request(request):
            raise ApplicationError("Members log in through a frontend.", code="channel_required")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        login_code_send(phone=data.validated_data["phone"])
        return Response(status=status.HTTP_202_ACCEPTED)


class OwnMemberSerializer(serializers.Serializer):
    member_no = serializers.CharField()
    name = serializers.CharField()
    phone = serializers.CharField()
    email = serializers.CharField(allow_null=True)
    birthday = serializers.DateField(allow_null=True)
    points_balance = serializers.IntegerField()
    referral_code = serializers.CharField()


class LoginVerifyApi(APIView):
    """Checks the code; answers the member (registered on a first log-in) and a token for
    ``X-Member-Token``, valid 30 days. Rate limited per phone, per shopper address and per channel key."""

    permission_classes = [IsStaffOrChannel]
    throttle_classes = [LoginVerifyThrottle]

    class InputSerializer(serializers.Serializer):
        phone = serializers.CharField(max_length=30)
        code = serializers.CharField(max_length=6, min_length=6)

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        member = OwnMemberSerializer()

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request):
        from members.auth import login_code_verify

        if not is_channel_request(request):
            raise ApplicationError("Members log in through a frontend.", code="channel_required")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        member, token = login_code_verify(channel=request.auth.channel, **data.validated_data)
        return Response({"token": token, "member": OwnMemberSerializer(member).data})


class MeApi(APIView):
    """The logged-in member's own profile (unmasked: it is theirs)."""

    permission_classes = [IsMember]

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100, required=False)
        email = serializers.CharField(max_length=254, required=False)
        birthday = serializers.DateField(required=False)
        consents = serializers.DictField(child=serializers.BooleanField(), required=False)

    @extend_schema(responses=OwnMemberSerializer)
    def get(self, request):
        return Response(OwnMemberSerializer(request.member).data)

    @extend_schema(request=InputSerializer, responses=OwnMemberSerializer)
    def patch(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        member = services.member_update(member=request.member, source=request.auth.channel.code, **data.validated_data)
        return Response(OwnMemberSerializer(member).data)


class MyPointsApi(generics.ListAPIView):
    permission_classes = [IsMember]
    serializer_class = PointsEntrySerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PointsEntry.objects.none()
        return selectors.points_history(member=self.request.member)


class MyWalletApi(APIView):
    permission_classes = [IsMember]

    @extend_schema(responses=WalletCouponSerializer(many=True))
    def get(self, request):
        wallet = request.member.wallet.select_related("coupon__campaign").order_by("-collected_at")
        return Response(WalletCouponSerializer(wallet, many=True).data)


class WishlistItemSerializer(serializers.Serializer):
    sku = serializers.CharField(source="variant.sku")
    name = serializers.CharField(source="variant.product.name")
    color = serializers.CharField(source="variant.color")
    size = serializers.CharField(source="variant.size")
    saved_on = serializers.CharField(source="channel.code", default=None, allow_null=True)
    added_at = serializers.DateTimeField()


def _wishlist(member):
    return member.wishlist.select_related("variant__product", "channel").order_by("-added_at")


class MyWishlistApi(APIView):
    """The member's saved items. POST ``{"sku"}`` saves one; DELETE ``?sku=`` removes it."""

    permission_classes = [IsMember]

    class InputSerializer(serializers.Serializer):
        sku = serializers.CharField(max_length=40)

    @extend_schema(responses=WishlistItemSerializer(many=True))
    def get(self, request):
        return Response(WishlistItemSerializer(_wishlist(request.member), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: WishlistItemSerializer})
    def post(self, request):
        from catalog.services import resolve_skus

        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sku = data.validated_data["sku"]
        item = services.wishlist_add(
            member=request.member, variant=resolve_skus([sku])[sku], channel=request.auth.channel
        )
        return Response(WishlistItemSerializer(item).data, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[OpenApiParameter("sku", str)], responses={204: None})
    def delete(self, request):
        from catalog.services import resolve_skus

        sku = request.query_params.get("sku", "")
        services.wishlist_remove(member=request.member, variant=resolve_skus([sku])[sku])
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberWishlistApi(APIView):
    """What a member saved online, for the clerk at the counter."""

    permission_classes = [IsStaff, model_permission("members.view_wishlistitem")]

    @extend_schema(responses=WishlistItemSerializer(many=True))
    def get(self, request, member_no: str):
        return Response(WishlistItemSerializer(_wishlist(_member(member_no)), many=True).data)
