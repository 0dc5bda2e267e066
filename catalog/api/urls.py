from django.urls import path

from catalog.api import views

urlpatterns = [
    path("categories/", views.CategoryListApi.as_view(), name="category-list"),
    path("products/", views.ProductListApi.as_view(), name="product-list"),
    path("products/<str:style_code>/", views.ProductDetailApi.as_view(), name="product-detail"),
]
