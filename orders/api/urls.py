from django.urls import path

from orders.api import views

urlpatterns = [
    path("quote/", views.QuoteApi.as_view(), name="order-quote"),
    path("", views.OrderListCreateApi.as_view(), name="order-list"),
    path("mine/", views.MyOrdersApi.as_view(), name="order-mine"),
    # before "<number>/": these words are not order numbers
    path("inbound/", views.InboundOrderApi.as_view(), name="order-inbound"),
    path("inbound/<str:marketplace_order_id>/", views.InboundOrderDetailApi.as_view(), name="order-inbound-detail"),
    path("<str:number>/", views.OrderDetailApi.as_view(), name="order-detail"),
    path("<str:number>/pay/", views.OrderPayApi.as_view(), name="order-pay"),
    path("<str:number>/cancel/", views.OrderCancelApi.as_view(), name="order-cancel"),
    path("<str:number>/pickup/", views.PickupApi.as_view(), name="order-pickup"),
    path("<str:number>/ship/", views.ShipApi.as_view(), name="order-ship"),
    path("<str:number>/returns/", views.ReturnCreateApi.as_view(), name="order-return"),
    path("<str:number>/exchange/", views.ExchangeApi.as_view(), name="order-exchange"),
]
