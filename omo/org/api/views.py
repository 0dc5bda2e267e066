import django_filters
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from omo.org import selectors
from omo.org.api.permissions import IsChannel, IsStaff, IsStaffOrChannel, model_permission
from omo.org.models import Location


class LocationOutputSerializer(serializers.ModelSerializer):
    supplying_warehouse = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

    class Meta:
        model = Location
        fields = ["code", "name", "kind", "city", "address", "phone", "is_active", "supplying_warehouse"]


class LocationFilter(django_filters.FilterSet):
    # strict: the default boolean filter ignores a value it cannot read ("null", "maybe") and lists everything
    is_active = django_filters.TypedChoiceFilter(
        choices=[("true", "true"), ("false", "false")], coerce=lambda value: value == "true"
    )

    class Meta:
        model = Location
        fields = ["kind", "city", "is_active"]


class LocationListApi(generics.ListAPIView):
    """Stores and warehouses. Readable by every staff member and every channel frontend."""

    permission_classes = [IsStaffOrChannel]
    serializer_class = LocationOutputSerializer
    filterset_class = LocationFilter

    def get_queryset(self):
        return selectors.location_list()


class LocationDetailApi(generics.RetrieveAPIView):
    permission_classes = [IsStaffOrChannel]
    serializer_class = LocationOutputSerializer
    lookup_field = "code"

    def get_queryset(self):
        return selectors.location_list()


class StaffOutputSerializer(serializers.Serializer):
    employee_code = serializers.CharField()
    display_name = serializers.CharField()
    username = serializers.CharField(source="user.username")
    home_store = serializers.CharField(source="home_store.code", allow_null=True, default=None)
    roles = serializers.SerializerMethodField()
    referral_code = serializers.CharField()
    is_active = serializers.BooleanField(source="user.is_active")

    def get_roles(self, profile) -> list[str]:
        return sorted(group.name for group in profile.user.groups.all())


class StaffListApi(generics.ListAPIView):
    """Staff the caller may see: their own store's for store managers and clerks, all for HQ."""

    permission_classes = [IsStaff, model_permission("org.view_staffprofile")]
    serializer_class = StaffOutputSerializer
    filterset_fields = ["home_store__code"]

    def get_queryset(self):
        return selectors.staff_list(user=self.request.user)


class StaffDetailApi(generics.RetrieveAPIView):
    permission_classes = [IsStaff, model_permission("org.view_staffprofile")]
    serializer_class = StaffOutputSerializer
    lookup_field = "employee_code"

    def get_queryset(self):
        return selectors.staff_list(user=self.request.user)


class ChannelMeApi(APIView):
    """The channel that the calling API key belongs to: lets a frontend check its key."""

    permission_classes = [IsChannel]

    class OutputSerializer(serializers.Serializer):
        code = serializers.CharField(source="channel.code")
        name = serializers.CharField(source="channel.name")
        kind = serializers.CharField(source="channel.kind")
        key_name = serializers.CharField(source="name")
        key_prefix = serializers.CharField(source="prefix")

    serializer_class = OutputSerializer

    def get(self, request):
        return Response(self.OutputSerializer(request.auth).data)
