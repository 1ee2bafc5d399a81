"""The checkout API. Views translate HTTP to service calls and back; they never write models."""
from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orders_site.catalog.models import Product
from orders_site.eventstore.display import describe, jsonable
from orders_site.orders.checkout import CheckoutError, CheckoutLine, CheckoutRequest, place_order
from orders_site.orders.history import fetch_state_at, fetch_timeline
from orders_site.orders.models import Order

from . import idempotency
from .serializers import (CheckoutSerializer, OrderDetailSerializer, OrderSerializer, OrderStateSerializer,
                          ProductSerializer)

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description="Recommended. 1-255 characters, unique per intended order, scoped to your user, kept 24 hours. "
                "Same key + same body replays the first response (header Idempotent-Replayed: true); "
                "same key + different body is 422; a retry while the first request is running is 409. "
                "Without a key, a retried POST may create a second order.")


def nest_errors(errors: dict[str, list[str]]) -> dict[str, Any]:
    """place_order's flat 'items[1].sku' keys, in the nested shape DRF serializers produce."""
    nested: dict[str, Any] = {}
    for path, messages in errors.items():
        if path.startswith("items[") and "]." in path:
            index, field = path[len("items["):].split("].", 1)
            items = nested.setdefault("items", [])
            while len(items) <= int(index):
                items.append({})
            items[int(index)].setdefault(field, []).extend(messages)
        else:
            nested.setdefault(path, []).extend(messages)
    return nested


def visible_orders(request: Request) -> QuerySet[Order]:
    """Staff see every order; customers their own (others' are 404, not 403: no existence leak)."""
    orders = Order.objects.all()
    return orders if request.user.is_staff else orders.filter(customer=request.user)


def correlation_id_of(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.headers.get("X-Correlation-ID", ""))
    except ValueError:
        return uuid.uuid4()


class OrderPages(PageNumberPagination):
    page_size = 50


class ProductList(generics.ListAPIView):
    """The catalog with what is available to order right now (on hand minus reserved)."""

    serializer_class = ProductSerializer
    queryset = Product.objects.filter(active=True).select_related("stock").order_by("sku")
    pagination_class = None  # a shop catalog page; paginate when it grows past a few hundred SKUs


class OrderListCreate(APIView):
    @extend_schema(responses=OrderSerializer(many=True))
    def get(self, request: Request) -> Response:
        paginator = OrderPages()
        page = paginator.paginate_queryset(visible_orders(request).prefetch_related("items"), request, view=self)
        return paginator.get_paginated_response(OrderSerializer(page, many=True).data)

    @extend_schema(request=CheckoutSerializer, parameters=[IDEMPOTENCY_HEADER],
                   responses={201: OrderSerializer, 400: OpenApiResponse(description="invalid input, per field"),
                              409: OpenApiResponse(description="same Idempotency-Key still in flight"),
                              422: OpenApiResponse(description="Idempotency-Key reused with a different body")})
    def post(self, request: Request) -> Response:
        """Place an order: status ORDERED; stock, payment and delivery follow asynchronously."""
        body = request.data  # malformed JSON raises ParseError -> 400 before any key is claimed
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return self._checkout(request, body)
        try:
            idempotency.check_key(key)
            claim = idempotency.claim(request.user.pk, key,
                                      idempotency.fingerprint(request.method, request.path, body))
        except idempotency.KeyInvalid as err:
            return Response({"Idempotency-Key": [str(err)]}, status=status.HTTP_400_BAD_REQUEST)
        except idempotency.KeyInFlight as err:
            return Response({"detail": str(err)}, status=status.HTTP_409_CONFLICT, headers={"Retry-After": "1"})
        except idempotency.KeyReused as err:
            return Response({"detail": str(err)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        if claim.replay:
            return Response(claim.record.response_body, status=claim.record.response_status,
                            headers={"Idempotent-Replayed": "true", **self._location(claim.record.response_body)})
        try:
            with transaction.atomic():  # the order and the stored response commit together
                response = self._checkout(request, body)
                idempotency.complete(claim.record, response.status_code, response.data)
            return response
        except BaseException:
            idempotency.release(claim.record)
            raise

    def _checkout(self, request: Request, body: Any) -> Response:
        serializer = CheckoutSerializer(data=body)
        if not serializer.is_valid():
            return Response(serializer.errors, status=status.HTTP_400_BAD_REQUEST)
        data = serializer.validated_data
        checkout = CheckoutRequest(tuple(CheckoutLine(i["sku"], i["quantity"]) for i in data["items"]),
                                   data["payment_method"], data.get("shipping_note", ""))
        try:
            order = place_order(request.user.pk, checkout, correlation_id=correlation_id_of(request))
        except CheckoutError as err:
            return Response(nest_errors(err.errors), status=status.HTTP_400_BAD_REQUEST)
        payload = OrderSerializer(order).data
        return Response(payload, status=status.HTTP_201_CREATED, headers=self._location(payload))

    @staticmethod
    def _location(body: Any) -> dict[str, str]:
        return {"Location": f"/api/orders/{body['id']}/"} if isinstance(body, dict) and "id" in body else {}


class OrderDetail(APIView):
    @extend_schema(responses=OrderDetailSerializer)
    def get(self, request: Request, order_id: uuid.UUID) -> Response:
        """The order with its items and full event history (decoded Avro)."""
        order = get_object_or_404(visible_orders(request).prefetch_related("items"), pk=order_id)
        events = [describe(e) for e in fetch_timeline(order.pk)]
        return Response(OrderDetailSerializer(order, context={"events": events}).data)


class OrderStateAt(APIView):
    @extend_schema(parameters=[OpenApiParameter("at", OpenApiTypes.DATETIME, required=True,
                                                description="ISO-8601 moment, e.g. 2026-11-25T10:30:00Z")],
                   responses={200: OrderStateSerializer, 400: OpenApiResponse(description="bad `at`"),
                              404: OpenApiResponse(description="no such order, or it did not exist yet")})
    def get(self, request: Request, order_id: uuid.UUID) -> Response:
        """The order as it was at `at`, replayed from its events."""
        order = get_object_or_404(visible_orders(request), pk=order_id)
        raw = request.query_params.get("at", "")
        at = parse_datetime(raw) if raw else None
        if at is None or at.tzinfo is None:
            return Response({"at": ["an ISO-8601 date-time with a time zone is required, e.g. 2026-11-25T10:30:00Z"]},
                            status=status.HTTP_400_BAD_REQUEST)
        state = fetch_state_at(order.pk, at)
        if state is None:
            return Response({"detail": "the order did not exist at that moment"}, status=status.HTTP_404_NOT_FOUND)
        return Response(OrderStateSerializer(jsonable(dataclasses.asdict(state))).data)
