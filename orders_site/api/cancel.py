"""POST /api/orders/{id}/cancel/: a customer cancels their order until it ships.

Kept apart from views.py so checkout work there and this endpoint merge independently. The view
only translates HTTP: the cancellation is orders/cancellation.py, the refund and the stock release
follow from its event (docs/design.md, "Cancellation").
"""
from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from orders_site.orders.cancellation import CannotCancel, cancel
from orders_site.orders.models import Order

from . import idempotency
from .serializers import OrderSerializer
from .body import MAX_BODY_BYTES, read_json
from .docs import IDEMPOTENCY_KEY as IDEMPOTENCY_HEADER
from .docs import NO_NUL, error
from .views import visible_orders


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200,
                                   help_text="Why, in the customer's words (kept in the order's history)")


# The body as JSON Schema: what _cancel accepts (unknown fields are refused, like a checkout's).
CANCEL_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "properties": {"reason": {"type": "string", "maxLength": 200, "pattern": NO_NUL,
                              "description": "Why, in the customer's words (kept in the order's history)"}},
}

TOO_LATE = inline_serializer("CancelRefused", {
    "detail": serializers.CharField(help_text="why the order can no longer be cancelled"),
    "code": serializers.CharField(help_text="`too_late`"),
    "status": serializers.CharField(help_text="the order's current status")})


@extend_schema(
    operation_id="orders_cancel", request={"application/json": CANCEL_SCHEMA}, parameters=[IDEMPOTENCY_HEADER],
    description="Cancel an order that has not shipped. A paid order is refunded through the payment gateway and "
                "its stock put back, asynchronously (the order is CANCELLED at once; the refund follows within "
                "seconds and shows in the order's history as PaymentRefunded). With an Idempotency-Key, a "
                "retry replays the first answer, refusals included.",
    responses={
        200: OpenApiResponse(OrderSerializer, description="cancelled (status CANCELLED)"),
        400: OpenApiResponse(description="invalid body or Idempotency-Key"),
        401: OpenApiResponse(description="not authenticated"),
        404: OpenApiResponse(description="no such order, or another customer's"),
        409: OpenApiResponse(TOO_LATE, description="too late to cancel (shipped, delivered, already cancelled or "
                                                   "ended), code `too_late`; or the same Idempotency-Key still in "
                                                   "flight (Retry-After header)",
                             examples=[OpenApiExample("shipped", value={
                                 "detail": "the order has shipped: it can no longer be cancelled",
                                 "code": "too_late", "status": "SHIPPED"})]),
        413: error(f"the body is larger than {MAX_BODY_BYTES} bytes"),
        415: error("the body is not application/json"),
        422: OpenApiResponse(description="Idempotency-Key reused with a different body"),
    })
@api_view(["POST"])
def cancel_order(request: Request, order_id: uuid.UUID) -> Response:
    # The same limits as a checkout's (size, depth, encoding, NUL); the body itself is optional.
    has_body = bool(request._request.body)
    body = read_json(request._request) if has_body else {}
    if not visible_orders(request).filter(pk=order_id).exists():
        return Response({"detail": "No Order matches the given query."}, status=status.HTTP_404_NOT_FOUND)
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return _cancel(request, order_id, body)
    try:
        idempotency.check_key(key)
        claim = idempotency.claim(request.user.pk, key, idempotency.fingerprint(request.method, request.path, body))
    except idempotency.KeyInvalid as err:
        return Response({"Idempotency-Key": [str(err)]}, status=status.HTTP_400_BAD_REQUEST)
    except idempotency.KeyInFlight as err:
        return Response({"detail": str(err)}, status=status.HTTP_409_CONFLICT, headers={"Retry-After": "1"})
    except idempotency.KeyReused as err:
        return Response({"detail": str(err)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
    if claim.replay:
        return Response(claim.record.response_body, status=claim.record.response_status,
                        headers={"Idempotent-Replayed": "true"})
    try:
        with transaction.atomic():  # the cancellation and the stored answer commit together
            response = _cancel(request, order_id, body)
            idempotency.complete(claim.record, response.status_code, response.data)
        return response
    except BaseException:
        idempotency.release(claim.record)
        raise


def _cancel(request: Request, order_id: uuid.UUID, body: Any) -> Response:
    if not isinstance(body, dict):
        return Response({"non_field_errors": ["the body must be a JSON object"]}, status=status.HTTP_400_BAD_REQUEST)
    unknown = sorted(set(body) - {"reason"})
    if unknown:
        return Response({name: ["unknown field"] for name in unknown}, status=status.HTTP_400_BAD_REQUEST)
    serializer = CancelSerializer(data=body)
    if not serializer.is_valid():
        return Response(serializer.errors, status=status.HTTP_400_BAD_REQUEST)
    who = f"staff {request.user.get_username()}" if request.user.is_staff else f"customer {request.user.get_username()}"
    try:
        order = cancel(order_id, requested_by=who, reason=serializer.validated_data.get("reason") or "")
    except CannotCancel as err:
        current = Order.objects.get(pk=order_id).status
        return Response({"detail": str(err), "code": "too_late", "status": current}, status=status.HTTP_409_CONFLICT)
    order = Order.objects.prefetch_related("items").get(pk=order.pk)
    return Response(OrderSerializer(order).data)
