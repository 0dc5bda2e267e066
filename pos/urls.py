from django.urls import path

from pos import views

urlpatterns = [
    path("", views.home, name="pos-home"),
    path("r/<int:register_id>/", views.sale, name="pos-sale"),
    path("r/<int:register_id>/shift/open/", views.shift_open, name="pos-shift-open"),
    path("r/<int:register_id>/scan/", views.scan, name="pos-sale-scan"),
    path("r/<int:register_id>/qty/", views.quantity, name="pos-sale-qty"),
    path("r/<int:register_id>/member/", views.member, name="pos-sale-member"),
    path("r/<int:register_id>/coupon/", views.coupon, name="pos-sale-coupon"),
    path("r/<int:register_id>/signup/", views.signup, name="pos-sale-signup"),
    path("r/<int:register_id>/switch/", views.switch_clerk, name="pos-switch"),
    path("r/<int:register_id>/pay/", views.pay, name="pos-sale-pay"),
    path("r/<int:register_id>/void/", views.void, name="pos-sale-void"),
    path("r/<int:register_id>/receipt/<str:number>/", views.receipt, name="pos-receipt"),
    path("r/<int:register_id>/sales/", views.sales, name="pos-sales"),
    path("r/<int:register_id>/pickups/", views.pickups, name="pos-pickups"),
    path("r/<int:register_id>/returns/", views.returns, name="pos-returns"),
    path("r/<int:register_id>/stock/", views.stock, name="pos-stock"),
    path("r/<int:register_id>/transfers/", views.transfers, name="pos-transfers"),
    path("r/<int:register_id>/me/", views.me, name="pos-me"),
    path("r/<int:register_id>/chat/", views.chat, name="pos-chat"),
    path("r/<int:register_id>/outreach/", views.outreach, name="pos-outreach"),
    path("r/<int:register_id>/me/qr/", views.my_qr, name="pos-my-qr"),
    path("r/<int:register_id>/exchange/", views.exchange, name="pos-exchange"),
    path("r/<int:register_id>/pickups/<str:number>/", views.pickup, name="pos-pickup"),
]
