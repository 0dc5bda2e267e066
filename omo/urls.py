from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from omo.core import views

api_v1 = [
    path("ping/", views.PingApi.as_view(), name="api-ping"),  # the load test's no-database baseline
    path("", include("omo.org.api.urls")),
    path("pos/", include("pos.api.urls")),
    path("catalog/", include("catalog.api.urls")),
    path("inventory/", include("inventory.api.urls")),
    path("members/", include("members.api.urls")),
    path("orders/", include("orders.api.urls")),
    path("attribution/", include("attribution.api.urls")),
    path("marketing/", include("marketing.api.urls")),
    path("events/", include("omo.events.api.urls")),
    path("dashboard/", include("omo.dashboard.api.urls")),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("healthz/live", views.healthz_live, name="healthz-live"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("pos/", include("pos.urls")),
    path("dashboard/", include("omo.dashboard.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Redoc builds its search worker from a blob: URL and shows its maker's logo from their site
    path(
        "api/redoc/",
        csp_update({"worker-src": ["'self'", "blob:"], "img-src": ["https://cdn.redoc.ly"]})(
            SpectacularRedocView.as_view(url_name="api-schema")
        ),
        name="api-redoc",
    ),
]

# Unknown /api/ addresses (and bugs there) answer in the API's error shape, not as HTML pages.
handler404 = "omo.core.views.not_found"
handler500 = "omo.core.views.server_error"
