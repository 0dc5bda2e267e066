from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from omo.core.health import cached_health_report


@never_cache
@require_GET
def healthz(request):
    """Database, Redis and a worker round trip: 200 when none fails, 503 otherwise (cached briefly)."""
    healthy, report = cached_health_report()
    return JsonResponse(report, status=200 if healthy else 503)


@never_cache
@require_GET
def healthz_live(request):
    """Liveness only: the process answers. For container health checks of the web process."""
    return JsonResponse({"status": "ok"})


class PingApi(APIView):
    """``{"ok": true}`` through the whole DRF stack with no database, cache, authentication or rate limit:
    the baseline the load test (``python -m bench load``) measures beside the real endpoints."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(responses=inline_serializer("Ping", {"ok": serializers.BooleanField()}))
    def get(self, request):
        return Response({"ok": True})


def home(request):
    return render(request, "home.html")


def not_found(request, exception=None):
    """Unknown URLs under ``/api/`` answer in the API's error shape; other pages get Django's 404 page.

    (A path parameter of the wrong form, ``/api/v1/pos/registers/abc/``, matches no URL pattern at all.)"""
    if request.path.startswith("/api/"):
        body = {"code": "not_found", "message": _("There is no such API address."), "details": {}}
        return JsonResponse(body, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """A bug under ``/api/`` still answers in the API's error shape (the error itself is logged)."""
    if request.path.startswith("/api/"):
        body = {"code": "server_error", "message": _("Something went wrong on our side."), "details": {}}
        return JsonResponse(body, status=500)
    return defaults.server_error(request)
