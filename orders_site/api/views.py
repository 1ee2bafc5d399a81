"""The checkout API. Views translate HTTP to service calls and back; they never write models.

POST /api/orders/, the hot path, is a plain Django view (checkout.py): urls.py routes it there by
method, and the GETs of the same path here (the order list times its framework and auth layers,
timing.py, as the checkout does).
"""
from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from orders_site.catalog.models import Product
from orders_site.eventstore.display import describe, jsonable
from orders_site.orders.history import fetch_state_at, fetch_timeline, parse_moment
from orders_site.orders.models import Order
from orders_site.orders.status import OrderStatus

from . import checkout, docs
from .serializers import OrderDetailSerializer, OrderSerializer, OrderStateSerializer, ProductSerializer
from .timing import laps_of


def visible_orders(request: Request) -> QuerySet[Order]:
    """Staff see every order; customers their own (others' are 404, not 403: no existence leak)."""
    orders = Order.objects.all()
    return orders if request.user.is_staff else orders.filter(customer=request.user)


class ApiRoot(APIView):
    """The API's entry points: where to start, no authentication needed."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(**docs.ROOT)
    def get(self, request: Request) -> Response:
        return Response({name: reverse(name, request=request) for name in ("products", "orders", "schema", "docs",
                                                                              "redoc")})


MAX_NUMBER_LENGTH = Order._meta.get_field("number").max_length


class OrderPages(PageNumberPagination):
    page_size = 50


class ProductList(generics.ListAPIView):
    """The catalog with what is available to order right now (on hand minus reserved)."""

    serializer_class = ProductSerializer
    queryset = Product.objects.filter(active=True).select_related("stock").order_by("sku")
    pagination_class = None  # a shop catalog page; paginate when it grows past a few hundred SKUs

    @extend_schema(**docs.PRODUCTS)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class OrderListCreate(generics.ListAPIView):
    serializer_class = OrderSerializer
    pagination_class = OrderPages
    parser_classes = [JSONParser]  # what the schema says POST takes; body.py reads the body itself

    def get_queryset(self) -> QuerySet[Order]:
        orders = visible_orders(self.request).prefetch_related("items")
        params = self.request.query_params
        if "status" in params:
            if params["status"] not in OrderStatus.__members__:
                raise ValidationError({"status": [f"must be one of {', '.join(OrderStatus.__members__)}"]})
            orders = orders.filter(status=params["status"])
        if "number" in params:
            number = params["number"].strip().upper()
            if len(params["number"]) > MAX_NUMBER_LENGTH:
                raise ValidationError({"number": [f"an order number has at most {MAX_NUMBER_LENGTH} characters"]})
            # NUL cannot be in a number (nor in a PostgreSQL string): no such order, not a 500
            orders = orders.filter(number=number) if "\x00" not in number else orders.none()
        return orders.order_by("-created_at", "-id")

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        laps = laps_of(request._request)
        laps.lap("framework")
        super().initial(request, *args, **kwargs)  # authentication and permission checks
        laps.lap("auth")

    @extend_schema(**docs.LIST_ORDERS)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Your orders (staff: everyone's), newest first, 50 per page; filter by status or find one by number."""
        return super().get(request, *args, **kwargs)

    @extend_schema(**docs.PLACE_ORDER)
    def post(self, request: Request) -> HttpResponse:
        """Place an order (what the schema says of POST). urls.py sends a POST to checkout.place_order
        before DRF sees it; dispatched here all the same, it answers the same, DRF having authenticated."""
        return checkout.checkout(request._request, request.user.pk)


class OrderDetail(APIView):
    @extend_schema(**docs.ORDER_DETAIL)
    def get(self, request: Request, order_id: uuid.UUID) -> Response:
        """The order with its items and full event history (decoded Avro)."""
        order = get_object_or_404(visible_orders(request).prefetch_related("items"), pk=order_id)
        events = [describe(e) for e in fetch_timeline(order.pk)]
        return Response(OrderDetailSerializer(order, context={"events": events}).data)


class OrderStateAt(APIView):
    @extend_schema(**docs.ORDER_STATE_AT)
    def get(self, request: Request, order_id: uuid.UUID) -> Response:
        """The order as it was at `at`, replayed from its events."""
        order = get_object_or_404(visible_orders(request), pk=order_id)
        at = parse_moment(request.query_params.get("at", ""))
        if at is None:
            return Response({"at": ["an ISO-8601 date-time with a time zone is required, e.g. 2026-11-25T10:30:00Z"]},
                            status=status.HTTP_400_BAD_REQUEST)
        state = fetch_state_at(order.pk, at)
        if state is None:
            return Response({"detail": "the order did not exist at that moment"}, status=status.HTTP_404_NOT_FOUND)
        return Response(OrderStateSerializer(jsonable(dataclasses.asdict(state))).data)
