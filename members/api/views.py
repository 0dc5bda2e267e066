"""Members over HTTP: registration (deduplicated), and the clerk's lookup with masked personal data.
Member self-service (one-time-code login, wallet, wishlist) comes with the rest of the members issue."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from members import selectors, services
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
