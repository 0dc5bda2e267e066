from django.urls import path

from omo.org.api import views

urlpatterns = [
    path("locations/", views.LocationListApi.as_view(), name="location-list"),
    path("locations/<str:code>/", views.LocationDetailApi.as_view(), name="location-detail"),
    path("staff/", views.StaffListApi.as_view(), name="staff-list"),
    path("staff/<str:employee_code>/", views.StaffDetailApi.as_view(), name="staff-detail"),
    path("channel/", views.ChannelMeApi.as_view(), name="channel-me"),
]
