from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from omo.core.errors import ApplicationError, NotFoundError
from omo.org.access import get_scoped
from omo.org.api.permissions import IsStaff, model_permission
from omo.org.models import Location
from pos import selectors, services


class RegisterOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    store = serializers.CharField(source="store.code")
    code = serializers.CharField()
    name = serializers.CharField()
    is_active = serializers.BooleanField()


class RegisterListCreateApi(generics.ListAPIView):
    """GET: the registers the caller may see. POST: a new register (store managers for their store, HQ admins)."""

    permission_classes = [IsStaff, model_permission("pos.view_register")]
    serializer_class = RegisterOutputSerializer
    filterset_fields = ["store__code", "is_active"]

    class InputSerializer(serializers.Serializer):
        store = serializers.SlugRelatedField(slug_field="code", queryset=Location.objects.all())
        code = serializers.CharField(max_length=10)
        name = serializers.CharField(max_length=100)

    def get_queryset(self):
        return selectors.register_list(user=self.request.user)

    @extend_schema(request=InputSerializer, responses={201: RegisterOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        register = services.register_create(actor=request.user, **data.validated_data)
        return Response(RegisterOutputSerializer(register).data, status=status.HTTP_201_CREATED)


class RegisterDetailApi(APIView):
    permission_classes = [IsStaff, model_permission("pos.view_register")]
    serializer_class = RegisterOutputSerializer

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100, required=False)
        is_active = serializers.BooleanField(required=False)

    def get(self, request, pk: int):
        register = get_scoped(selectors.register_list(user=request.user), request.user, pk=pk)
        return Response(RegisterOutputSerializer(register).data)

    @extend_schema(request=InputSerializer, responses=RegisterOutputSerializer)
    def patch(self, request, pk: int):
        register = get_scoped(selectors.register_list(user=request.user), request.user, pk=pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        register = services.register_update(actor=request.user, register=register, **data.validated_data)
        return Response(RegisterOutputSerializer(register).data)


class ShiftSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    register = serializers.CharField(source="register.code")
    store = serializers.CharField(source="store.code")
    status = serializers.CharField()
    opened_by = serializers.CharField(source="opened_by.username")
    opened_at = serializers.DateTimeField()
    opening_cash = serializers.DecimalField(max_digits=12, decimal_places=2)
    closed_at = serializers.DateTimeField(allow_null=True)
    counted_cash = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    expected_cash = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    variance = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    note = serializers.CharField()
    report = serializers.DictField()
    approved_at = serializers.DateTimeField(allow_null=True)


class ShiftOpenApi(APIView):
    """Opens a shift at the register with the opening cash; ``GET`` the open shift with its live report."""

    permission_classes = [IsStaff, model_permission("pos.view_shift")]

    class InputSerializer(serializers.Serializer):
        opening_cash = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)

    @extend_schema(responses=ShiftSerializer)
    def get(self, request, pk: int):
        register = get_scoped(selectors.register_list(user=request.user), request.user, pk=pk)
        shift = services.shift_current(register=register)
        if shift is None:
            raise NotFoundError("No shift is open at this register.", code="no_open_shift")
        shift.report = services.shift_report(shift)
        return Response(ShiftSerializer(shift).data)

    @extend_schema(request=InputSerializer, responses={201: ShiftSerializer})
    def post(self, request, pk: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        register = get_scoped(selectors.register_list(user=request.user), request.user, pk=pk)
        shift = services.shift_open(actor=request.user, register=register, **data.validated_data)
        return Response(ShiftSerializer(shift).data, status=status.HTTP_201_CREATED)


class ShiftActionApi(APIView):
    """``close`` with the cash counted (and a note when it differs), or ``approve`` (store manager)."""

    permission_classes = [IsStaff, model_permission("pos.view_shift")]
    action = "close"

    class InputSerializer(serializers.Serializer):
        counted_cash = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)
        note = serializers.CharField(max_length=300, required=False, default="")

    @extend_schema(request=InputSerializer, responses=ShiftSerializer)
    def post(self, request, pk: int):
        shift = get_scoped(selectors.shift_list(user=request.user), request.user, pk=pk)
        if self.action == "approve":
            shift = services.shift_approve(actor=request.user, shift=shift)
        else:
            data = self.InputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            if "counted_cash" not in data.validated_data:
                raise ApplicationError("Give the cash counted in the drawer.", code="counted_cash_required")
            shift = services.shift_close(actor=request.user, shift=shift, **data.validated_data)
        return Response(ShiftSerializer(shift).data)
