from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

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


def home(request):
    return render(request, "home.html")
