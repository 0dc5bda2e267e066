from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

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
