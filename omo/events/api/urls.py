from django.urls import path

from omo.events.api import views

urlpatterns = [
    path("webhooks/", views.SubscriptionListApi.as_view(), name="webhook-list"),
    path("webhooks/<int:pk>/", views.SubscriptionDetailApi.as_view(), name="webhook-detail"),
    path("webhooks/<int:pk>/rotate-secret/", views.SubscriptionRotateSecretApi.as_view(), name="webhook-rotate"),
    path("webhooks/<int:pk>/deliveries/", views.DeliveryListApi.as_view(), name="webhook-deliveries"),
]
