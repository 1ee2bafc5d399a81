from django.urls import path

from . import views

urlpatterns = [
    path("", views.ApiRoot.as_view(), name="api-root"),
    path("products/", views.ProductList.as_view(), name="products"),
    path("orders/", views.OrderListCreate.as_view(), name="orders"),
    path("orders/<uuid:order_id>/", views.OrderDetail.as_view(), name="order-detail"),
    path("orders/<uuid:order_id>/history/", views.OrderStateAt.as_view(), name="order-state-at"),
]
