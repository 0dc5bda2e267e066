from django.urls import path

from pos.api import views

urlpatterns = [
    path("registers/", views.RegisterListCreateApi.as_view(), name="register-list"),
    path("registers/<int:pk>/", views.RegisterDetailApi.as_view(), name="register-detail"),
    path("registers/<int:pk>/shift/", views.ShiftOpenApi.as_view(), name="register-shift"),
    path("shifts/<int:pk>/close/", views.ShiftActionApi.as_view(action="close"), name="shift-close"),
    path("shifts/<int:pk>/approve/", views.ShiftActionApi.as_view(action="approve"), name="shift-approve"),
]
