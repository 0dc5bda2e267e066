from django.urls import path

import members.api.profile_views as profile_views
from members.api import hq_views, views

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
    path("profile/definitions/", profile_views.ProfileDefinitionsApi.as_view(), name="member-profile-definitions"),
    path("me/profile/", profile_views.MyProfileApi.as_view(), name="member-me-profile"),
    path("me/profile/<str:group_key>/", profile_views.MyProfileEntriesApi.as_view(), name="member-me-profile-entries"),
    path(
        "me/profile/<str:group_key>/<int:entry_id>/",
        profile_views.MyProfileEntryApi.as_view(),
        name="member-me-profile-entry",
    ),
    path("me/export/", hq_views.MyExportApi.as_view(), name="member-me-export"),
    path("duplicates/", hq_views.DuplicateListApi.as_view(), name="member-duplicates"),
    path("coupon-issues/", hq_views.CouponIssueJobApi.as_view(), name="coupon-issue-create"),
    path("coupon-issues/<int:pk>/", hq_views.CouponIssueJobDetailApi.as_view(), name="coupon-issue-detail"),
    path("<str:member_no>/export/", hq_views.MemberExportApi.as_view(), name="member-export"),
    path("<str:member_no>/erase/", hq_views.MemberEraseApi.as_view(), name="member-erase"),
    path("<str:member_no>/merge/", hq_views.MemberMergeApi.as_view(), name="member-merge"),
    path("<str:member_no>/points/", views.MemberPointsApi.as_view(), name="member-points"),
    path("<str:member_no>/coupons/", views.MemberWalletApi.as_view(), name="member-wallet"),
    path("<str:member_no>/wishlist/", views.MemberWishlistApi.as_view(), name="member-wishlist"),
]
