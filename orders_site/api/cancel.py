"""POST /api/orders/{id}/cancel/: a customer cancels their order until it ships.

Kept apart from views.py so the checkout path there and this endpoint change independently. The view
only translates HTTP: the cancellation is orders/cancellation.py; the refund and the stock release
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
from .body import MAX_BODY_BYTES, read_json
from .docs import FIELD_ERRORS, IDEMPOTENCY_KEY, NO_NUL, error
from .responses import as_response
from .serializers import OrderSerializer
from .views import visible_orders

MAX_REASON_LENGTH = 200
CANCEL_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "properties": {"reason": {"type": "string", "maxLength": MAX_REASON_LENGTH, "pattern": NO_NUL,
                              "description": "why, in the customer's words (kept in the order's history)"}},
}
TOO_LATE = inline_serializer("CancelRefused", {
    "detail": serializers.CharField(help_text="why the order can no longer be cancelled"),
    "code": serializers.CharField(help_text="`too_late`"),
    "status": serializers.CharField(help_text="the order's current status")})


class InvalidCancel(ValueError):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(str(errors))
        self.errors = errors


def parse_reason(body: Any) -> str:
    """The optional reason of a cancel body; InvalidCancel (per-field errors) for anything else."""
    if not isinstance(body, dict):
        raise InvalidCancel({"non_field_errors": ["Expected a JSON object."]})
    unknown = sorted(set(body) - {"reason"})
    if unknown:
        raise InvalidCancel({name: ["Unknown field."] for name in unknown})
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise InvalidCancel({"reason": ["Not a valid string."]})
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidCancel({"reason": [f"Ensure this field has no more than {MAX_REASON_LENGTH} characters."]})
    if "\x00" in reason:
        raise InvalidCancel({"reason": ["Null characters are not allowed."]})
    return reason.strip()


@extend_schema(
    operation_id="orders_cancel", request={"application/json": CANCEL_SCHEMA}, parameters=[IDEMPOTENCY_KEY],
    description="Cancel an order that has not shipped. A paid order is refunded through the payment gateway and its "
                "stock put back, asynchronously: the order is CANCELLED at once, the refund follows within seconds "
                "and shows in the order's history as PaymentRefunded. The body is a JSON object with an optional "
                "reason (an empty body is taken as `{}`). With an Idempotency-Key, a retry replays the first answer, refusals included.",
    examples=[OpenApiExample("with a reason", request_only=True, value={"reason": "ordered the wrong size"})],
    responses={
        200: OpenApiResponse(OrderSerializer, description="cancelled (status CANCELLED)"),
        400: OpenApiResponse(FIELD_ERRORS, description="a body that is not a JSON object, an unknown field, a reason "
                                                       "too long; or an invalid Idempotency-Key"),
        409: OpenApiResponse(TOO_LATE, description="too late to cancel (shipped, delivered, already cancelled or "
                                                   "ended), code `too_late`; or the same Idempotency-Key still in "
                                                   "flight (header Retry-After, body without a code)",
                             examples=[OpenApiExample("shipped", response_only=True, value={
                                 "detail": "the order has shipped: it can no longer be cancelled",
                                 "code": "too_late", "status": "SHIPPED"})]),
        413: error(f"the body is larger than {MAX_BODY_BYTES} bytes"),
        415: error("the body is not application/json"),
        422: error("the Idempotency-Key was used with a different body"),
    })
@api_view(["POST"])
def cancel_order(request: Request, order_id: uuid.UUID) -> Response:
    if not visible_orders(request).filter(pk=order_id).exists():
        return Response({"detail": "No Order matches the given query."}, status=status.HTTP_404_NOT_FOUND)
    # The same limits as a checkout's (size, depth, encoding, NUL), before any key is claimed; no
    # body at all means no reason given.
    body = read_json(request._request) if request._request.body else {}
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return _cancel(request, order_id, body)
    try:
        idempotency.check_key(key)
    except idempotency.KeyInvalid as err:
        return as_response(idempotency.refusal(err))  # plain JSON: a DRF view may return it
    try:
        # The key, the cancellation and the stored answer commit together; a crash rolls all back.
        with transaction.atomic():
            claim = idempotency.claim(request.user.pk, key,
                                      idempotency.fingerprint(request.method, request.path, body))
            if claim.replay is not None:
                return Response(claim.replay.body, status=claim.replay.status, headers={"Idempotent-Replayed": "true"})
            response = _cancel(request, order_id, body)
            idempotency.complete(claim.record_id, response.status_code, response.data)
        return response
    except (idempotency.KeyInFlight, idempotency.KeyReused) as err:
        return as_response(idempotency.refusal(err))  # plain JSON: a DRF view may return it


def _cancel(request: Request, order_id: uuid.UUID, body: Any) -> Response:
    try:
        reason = parse_reason(body)
    except InvalidCancel as err:
        return Response(err.errors, status=status.HTTP_400_BAD_REQUEST)
    user = request.user
    who = f"{'staff' if user.is_staff else 'customer'} {user.get_username()}"
    try:
        order = cancel(order_id, requested_by=who, reason=reason)
    except CannotCancel as err:
        current = Order.objects.get(pk=order_id).status
        return Response({"detail": str(err), "code": "too_late", "status": current}, status=status.HTTP_409_CONFLICT)
    return Response(OrderSerializer(Order.objects.prefetch_related("items").get(pk=order.pk)).data)
