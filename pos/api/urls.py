from django.urls import path

from pos.api import views

urlpatterns = [
    path("registers/", views.RegisterListCreateApi.as_view(), name="register-list"),
    path("registers/<int:pk>/", views.RegisterDetailApi.as_view(), name="register-detail"),
]
