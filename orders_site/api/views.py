"""The checkout API. Views translate HTTP to service calls and back; they never write models.

POST /api/orders/ is the hot path (docs/benchmarks.md, "Checkout API"): its body is read and checked
by hand (body.py, checkout_input.py), its response built from the order's state without a query
(responses.py), and each layer is timed (timing.py).
"""
from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

from django.db import transaction
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
from orders_site.orders.checkout import CheckoutError, created_state, price_order, record_order
from orders_site.orders.history import fetch_state_at, fetch_timeline, parse_moment
from orders_site.orders.models import Order
from orders_site.orders.projection import OrderState
from orders_site.orders.status import OrderStatus

from . import docs, idempotency
from .body import read_json
from .checkout_input import InvalidCheckout, parse_checkout
from .responses import order_body
from .serializers import OrderDetailSerializer, OrderSerializer, OrderStateSerializer, ProductSerializer
from .timing import laps_of


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


def json_response(body: Any, status_code: int, headers: dict[str, str] | None = None) -> HttpResponse:
    """A JSON response without DRF's renderer machinery (the body is plain JSON types already)."""
    return HttpResponse(json.dumps(body, ensure_ascii=False, separators=(",", ":")), status=status_code,
                        content_type="application/json", headers=headers)


def location_of(answer: idempotency.StoredResponse) -> dict[str, str]:
    """The created order's URL for a 201 (a 400's body may have an "id" key too: the unknown field's)."""
    created = answer.status == status.HTTP_201_CREATED and isinstance(answer.body, dict) and "id" in answer.body
    return {"Location": f"/api/orders/{answer.body['id']}/"} if created else {}


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
        """Place an order: status ORDERED; stock, payment and delivery follow asynchronously."""
        laps = laps_of(request._request)
        body = read_json(request._request)  # 400 / 413 / 415 before the key is looked at
        key = request.headers.get("Idempotency-Key")
        if key is not None:
            try:
                idempotency.check_key(key)
            except idempotency.KeyInvalid as err:
                return idempotency.refused(err)
        # Validate and price first: both only read, so the transaction below is as short as it can be
        # and the 201 is known before it opens (the key row is written already completed).
        try:
            checkout = parse_checkout(body)
            laps.lap("validation")
            priced = price_order(request.user.pk, checkout)
        except (InvalidCheckout, CheckoutError) as err:
            errors = err.errors if isinstance(err, InvalidCheckout) else nest_errors(err.errors)
            return self._checkout(request, key, body, idempotency.StoredResponse(status.HTTP_400_BAD_REQUEST, errors))
        state = created_state(priced)
        return self._checkout(request, key, body, idempotency.StoredResponse(status.HTTP_201_CREATED,
                                                                             order_body(state)), (priced, state))

    def _checkout(self, request: Request, key: str | None, body: Any, answer: idempotency.StoredResponse,
                  order: tuple[dict[str, Any], OrderState] | None = None) -> HttpResponse:
        """Claim the key and record the order (priced, with its state; None for a rejected request) in one transaction,
        the response stored with them; or answer as the key's first request was answered."""
        laps = laps_of(request._request)
        laps.lap("order")
        try:
            with transaction.atomic():  # the key, the order, its event and the stored response commit together
                if key is not None:
                    claim = idempotency.claim(request.user.pk, key,
                                              idempotency.fingerprint(request.method, request.path, body), answer)
                    laps.lap("idempotency")
                    if claim.replay is not None:  # nothing written: the transaction commits empty
                        return json_response(claim.replay.body, claim.replay.status,
                                             {"Idempotent-Replayed": "true", **location_of(claim.replay)})
                if order is not None:
                    record_order(order[0], correlation_id=correlation_id_of(request), state=order[1])
        except (idempotency.KeyInFlight, idempotency.KeyReused) as err:
            return idempotency.refused(err)
        laps.lap("order")
        response = json_response(answer.body, answer.status, location_of(answer))
        laps.lap("response")
        return response


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
