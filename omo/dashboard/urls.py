from django.urls import path

from omo.dashboard import views

app_name = "dashboard"
urlpatterns = [
    path("", views.page, name="index"),
    path("traffic/upload/", views.traffic_upload, name="traffic-upload"),
    path("<slug:key>/", views.page, name="page"),
]
