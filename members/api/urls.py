from django.urls import path

from members.api import views

urlpatterns = [
    path("register/", views.MemberRegisterApi.as_view(), name="member-register"),
    path("lookup/", views.MemberLookupApi.as_view(), name="member-lookup"),
    path("coupons/validate/", views.CouponValidateApi.as_view(), name="coupon-validate"),
    path("login/code/", views.LoginCodeApi.as_view(), name="member-login-code"),
    path("login/verify/", views.LoginVerifyApi.as_view(), name="member-login-verify"),
    path("me/", views.MeApi.as_view(), name="member-me"),
    path("me/points/", views.MyPointsApi.as_view(), name="member-me-points"),
    path("me/coupons/", views.MyWalletApi.as_view(), name="member-me-coupons"),
    path("me/wishlist/", views.MyWishlistApi.as_view(), name="member-me-wishlist"),
    path("<str:member_no>/points/", views.MemberPointsApi.as_view(), name="member-points"),
    path("<str:member_no>/coupons/", views.MemberWalletApi.as_view(), name="member-wallet"),
    path("<str:member_no>/wishlist/", views.MemberWishlistApi.as_view(), name="member-wishlist"),
]
