from django.urls import path

from attribution.api import views

urlpatterns = [
    path("referral-codes/<str:code>/", views.ReferralCodeApi.as_view(), name="attribution-referral-code"),
    path("referral-codes/<str:code>/qr/", views.ReferralQrApi.as_view(), name="attribution-referral-qr"),
    path("referral-clicks/", views.ReferralClickApi.as_view(), name="attribution-referral-click"),
    path("bindings/", views.BindingListApi.as_view(), name="attribution-bindings"),
    path("bindings/chat/", views.BindingChatApi.as_view(), name="attribution-binding-chat"),
    path("bindings/<int:pk>/end/", views.BindingEndApi.as_view(), name="attribution-binding-end"),
    path("orders/<str:number>/", views.OrderAttributionApi.as_view(), name="attribution-order"),
    path("policies/", views.PolicyListApi.as_view(), name="attribution-policies"),
    path("policies/<int:version>/adopt/", views.PolicyAdoptApi.as_view(), name="attribution-policy-adopt"),
    path("simulations/", views.SimulationApi.as_view(), name="attribution-simulation"),
    path("periods/", views.PeriodListApi.as_view(), name="attribution-periods"),
    path("periods/<str:month>/", views.PeriodDetailApi.as_view(), name="attribution-period"),
    path("periods/<str:month>/adjustments/", views.PeriodAdjustApi.as_view(), name="attribution-period-adjust"),
    path("periods/<str:month>/approve/", views.PeriodApproveApi.as_view(), name="attribution-period-approve"),
    path("periods/<str:month>/paid/", views.PeriodPaidApi.as_view(), name="attribution-period-paid"),
    path("periods/<str:month>/export.csv", views.PeriodCsvApi.as_view(), name="attribution-period-csv"),
]
