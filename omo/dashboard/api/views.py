"""Traffic in (door counters, web and app sessions) and every dashboard page's figures out as JSON, for
BI tools and the brand's own screens. Scoped like the pages: a store manager gets their store only."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from omo.core.errors import NotFoundError, PermissionDeniedError
from omo.dashboard import pages
from omo.dashboard.figures import plain_value
from omo.dashboard.filters import dashboard_allowed, filters_from
from omo.dashboard.models import TrafficCount
from omo.dashboard.services import traffic_record
from omo.org.access import scope_to_user
from omo.org.api.permissions import is_channel_request


class CanSeeDashboard(BasePermission):
    def has_permission(self, request, view):
        return not is_channel_request(request) and dashboard_allowed(request.user)


class CanSendTraffic(BasePermission):
    """HQ staff and store managers (their own store), or a web/app channel's key (its own sessions)."""

    def has_permission(self, request, view):
        return is_channel_request(request) or dashboard_allowed(request.user)


class TrafficRowSerializer(serializers.Serializer):
    store = serializers.CharField(required=False, allow_blank=True, help_text="A store code (door counter).")
    channel = serializers.CharField(required=False, allow_blank=True, help_text="A web or app channel code.")
    day = serializers.DateField()
    hour = serializers.IntegerField(required=False, allow_null=True, help_text="0-23, stores only.")
    visits = serializers.IntegerField(min_value=0)


class TrafficCountOutputSerializer(serializers.ModelSerializer):
    store = serializers.CharField(source="store.code", allow_null=True, default=None)
    channel = serializers.CharField(source="channel.code", allow_null=True, default=None)

    class Meta:
        model = TrafficCount
        fields = ["store", "channel", "day", "hour", "visits", "source", "updated_at"]


class TrafficApi(APIView):
    permission_classes = [CanSendTraffic]

    class InputSerializer(serializers.Serializer):
        rows = TrafficRowSerializer(many=True, allow_empty=False)

    class ResultSerializer(serializers.Serializer):
        rows = serializers.IntegerField()
        created = serializers.IntegerField()
        updated = serializers.IntegerField()

    @extend_schema(
        parameters=[
            OpenApiParameter("from", str, description="First day (ISO date)"),
            OpenApiParameter("to", str, description="Last day (ISO date)"),
        ],
        responses=TrafficCountOutputSerializer(many=True),
    )
    def get(self, request):
        if is_channel_request(request):
            raise PermissionDeniedError(_("Traffic counts are read by staff."))
        filters = filters_from(request.query_params, request.user)
        qs = TrafficCount.objects.filter(day__range=(filters.start, filters.end)).select_related("store", "channel")
        if filters.store_ids is not None:
            qs = scope_to_user(qs, request.user).filter(store_id__in=filters.store_ids)
        return Response(TrafficCountOutputSerializer(qs[:10000], many=True).data)

    @extend_schema(request=InputSerializer, responses=ResultSerializer)
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rows = [
            {k: (v.isoformat() if k == "day" else v) for k, v in row.items()} for row in data.validated_data["rows"]
        ]
        if is_channel_request(request):
            own = request.auth.channel.code
            if any(row.get("store") or row.get("channel") != own for row in rows):
                raise PermissionDeniedError(_("A channel's key sends only its own channel's sessions."))
            result = traffic_record(rows=rows, source=TrafficCount.Source.API, actor=None)
        else:
            result = traffic_record(rows=rows, source=TrafficCount.Source.API, actor=request.user)
        return Response(result, status=201 if result["created"] else 200)


class FigureSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    columns = serializers.ListField(child=serializers.DictField())
    rows = serializers.ListField(child=serializers.DictField())


class PageSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    kpis = serializers.ListField(child=serializers.DictField())
    figures = FigureSerializer(many=True)


class DashboardPageApi(APIView):
    """One dashboard page's key figures and tables; the filters are those of the page (``from``,
    ``to``, ``compare``, ``store``, ``channel``). Percentages are ratios (0.25 = 25%)."""

    permission_classes = [CanSeeDashboard]

    @extend_schema(
        parameters=[
            OpenApiParameter("from", str),
            OpenApiParameter("to", str),
            OpenApiParameter("compare", str, enum=["previous", "last_year", "none"]),
            OpenApiParameter("store", str),
            OpenApiParameter("channel", str),
        ],
        responses=PageSerializer,
    )
    def get(self, request, key: str):
        if key not in pages.PAGE_KEYS:
            raise NotFoundError(_("No such dashboard page."))
        built = pages.build(key, filters_from(request.query_params, request.user))
        return Response(
            {
                "key": built.key,
                "title": str(built.title),
                "kpis": [
                    {
                        "label": str(k.label),
                        "kind": k.kind,
                        "value": plain_value(k.value),
                        "compare": plain_value(k.compare),
                        "change": plain_value(k.change),
                    }
                    for k in built.kpis
                ],
                "figures": [
                    {
                        "key": f.key,
                        "title": str(f.title),
                        "columns": [{"key": c.key, "label": str(c.label), "kind": c.kind} for c in f.columns],
                        "rows": [{c.key: plain_value(r.get(c.key)) for c in f.columns} for r in f.rows],
                    }
                    for f in built.figures
                ],
            }
        )
