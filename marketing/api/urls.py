from django.urls import path

from marketing.api import views

urlpatterns = [
    path("segments/preview/", views.PreviewApi.as_view(), name="marketing-segment-preview"),
    path("segments/", views.SegmentListApi.as_view(), name="marketing-segments"),
    path("segments/<int:pk>/", views.SegmentDetailApi.as_view(), name="marketing-segment"),
    path("segments/<int:pk>/evaluate/", views.SegmentEvaluateApi.as_view(), name="marketing-segment-evaluate"),
    path("segments/<int:pk>/members/", views.SegmentMembersApi.as_view(), name="marketing-segment-members"),
    path("segments/<int:pk>/runs/", views.SegmentRunsApi.as_view(), name="marketing-segment-runs"),
    path("campaigns/", views.CampaignListApi.as_view(), name="marketing-campaigns"),
    path("campaigns/<int:pk>/", views.CampaignDetailApi.as_view(), name="marketing-campaign"),
    path("campaigns/<int:pk>/launch/", views.CampaignLaunchApi.as_view(), name="marketing-campaign-launch"),
    path("campaigns/<int:pk>/cancel/", views.CampaignCancelApi.as_view(), name="marketing-campaign-cancel"),
    path("campaigns/<int:pk>/results/", views.CampaignResultsApi.as_view(), name="marketing-campaign-results"),
    path(
        "recommendations/products/<str:style_code>/",
        views.ProductRecommendationsApi.as_view(),
        name="marketing-reco-product",
    ),
    path(
        "recommendations/members/<str:member_no>/",
        views.MemberRecommendationsApi.as_view(),
        name="marketing-reco-member",
    ),
    path("recommendations/me/", views.MyRecommendationsApi.as_view(), name="marketing-reco-me"),
    path("reviews/", views.ReviewListApi.as_view(), name="marketing-reviews"),
    path("reviews/pending/", views.ReviewPendingApi.as_view(), name="marketing-reviews-pending"),
    path("reviews/<int:pk>/moderate/", views.ReviewModerateApi.as_view(), name="marketing-review-moderate"),
    path("events/", views.EventListApi.as_view(), name="marketing-events"),
    path("events/<int:pk>/register/", views.EventRegisterApi.as_view(), name="marketing-event-register"),
    path("events/<int:pk>/check-in/", views.EventCheckInApi.as_view(), name="marketing-event-check-in"),
]
