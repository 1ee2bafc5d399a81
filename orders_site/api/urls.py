from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import path

from . import cancel, checkout, views

View = Callable[..., HttpResponse]


def post_to(view_for_post: View, otherwise: View) -> View:
    """One path, two views by method: POST to `view_for_post`, every other method to `otherwise`.

    `otherwise` is a DRF view: wraps() copies its attributes (`cls`, `initkwargs`, `csrf_exempt`), so
    drf-spectacular still reads the path's operations, POST included, from its class.
    """
    @functools.wraps(otherwise)
    def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST":
            return view_for_post(request, *args, **kwargs)
        return otherwise(request, *args, **kwargs)
    return view


urlpatterns = [
    path("", views.ApiRoot.as_view(), name="api-root"),
    path("products/", views.ProductList.as_view(), name="products"),
    # The checkout (POST) skips DRF: checkout.py; the list (GET) is DRF's.
    path("orders/", post_to(checkout.place_order, views.OrderListCreate.as_view()), name="orders"),
    path("orders/<uuid:order_id>/", views.OrderDetail.as_view(), name="order-detail"),
    path("orders/<uuid:order_id>/history/", views.OrderStateAt.as_view(), name="order-state-at"),
    path("orders/<uuid:order_id>/cancel/", cancel.cancel_order, name="order-cancel"),
]
