from django.urls import path

from members.api import views

urlpatterns = [
    path("register/", views.MemberRegisterApi.as_view(), name="member-register"),
    path("lookup/", views.MemberLookupApi.as_view(), name="member-lookup"),
    path("coupons/validate/", views.CouponValidateApi.as_view(), name="coupon-validate"),
    path("<str:member_no>/points/", views.MemberPointsApi.as_view(), name="member-points"),
    path("<str:member_no>/coupons/", views.MemberWalletApi.as_view(), name="member-wallet"),
]
