from django.urls import path

from omo.dashboard.api import views

urlpatterns = [
    path("traffic/", views.TrafficApi.as_view(), name="dashboard-traffic"),
    path("pages/<slug:key>/", views.DashboardPageApi.as_view(), name="dashboard-page-api"),
]
