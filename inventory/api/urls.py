from django.urls import path

from inventory.api import views

urlpatterns = [
    path("availability/", views.AvailabilityListApi.as_view(), name="availability-list"),
    path("availability/cart/", views.CartPickupApi.as_view(), name="availability-cart"),
    path("availability/<str:sku>/", views.AvailabilityDetailApi.as_view(), name="availability-detail"),
    path("reservations/", views.ReservationCreateApi.as_view(), name="reservation-create"),
    path("reservations/release/", views.ReservationReleaseApi.as_view(), name="reservation-release"),
    path("stock/", views.StockLevelListApi.as_view(), name="stock-list"),
    path("movements/", views.MovementListApi.as_view(), name="movement-list"),
    path("transfers/", views.TransferListCreateApi.as_view(), name="transfer-list"),
    path("transfers/<int:pk>/", views.TransferDetailApi.as_view(), name="transfer-detail"),
    path("transfers/<int:pk>/approve/", views.TransferActionApi.as_view(action="approve"), name="transfer-approve"),
    path("transfers/<int:pk>/ship/", views.TransferActionApi.as_view(action="ship"), name="transfer-ship"),
    path("transfers/<int:pk>/receive/", views.TransferActionApi.as_view(action="receive"), name="transfer-receive"),
    path("transfers/<int:pk>/cancel/", views.TransferActionApi.as_view(action="cancel"), name="transfer-cancel"),
    path("lots/expiring/", views.LotExpiringListApi.as_view(), name="lots-expiring"),
    path("channel-stock/", views.ChannelStockListApi.as_view(), name="channel-stock-list"),
]
