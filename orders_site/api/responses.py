"""JSON responses without DRF's renderer machinery, and the checkout's 201 body built from an order's
state without a query or a serializer instance (the same JSON OrderSerializer gives for the stored
rows; a test holds them equal)."""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, NamedTuple

from django.http import HttpResponse

from orders_site.orders.projection import OrderState


class Answer(NamedTuple):
    """A JSON answer before it becomes a response: Django's (as_response) or the WSGI entry's (checkout_wsgi)."""

    status: int
    body: Any
    headers: Mapping[str, str] = MappingProxyType({})  # read-only: one default shared by every Answer


def json_bytes(body: Any) -> bytes:
    """`body` (plain JSON types) as DRF's JSONRenderer writes it: compact, UTF-8."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(body: Any, status_code: int, headers: Mapping[str, str] | None = None) -> HttpResponse:
    """An HttpResponse of `body` as json_bytes() writes it, application/json."""
    return HttpResponse(json_bytes(body), status=status_code, content_type="application/json", headers=headers)


def as_response(answer: Answer) -> HttpResponse:
    """The answer as Django's response (the view's); checkout_wsgi writes it to WSGI itself."""
    return json_response(answer.body, answer.status, answer.headers)


def iso(moment: datetime) -> str:
    """DRF's DateTimeField output: ISO 8601 in UTC with a `Z`."""
    text = moment.astimezone(timezone.utc).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def order_body(state: OrderState) -> dict[str, Any]:
    return {
        "id": str(state.order_id), "number": state.number, "status": state.status.value,
        "status_reason": state.status_reason, "total_minor": state.total_minor, "currency": state.currency,
        "payment_method": state.payment_method, "shipping_note": state.shipping_note,
        "items": [{"sku": i.sku, "product_name": i.product_name, "quantity": i.quantity,
                   "unit_price_minor": i.unit_price_minor, "line_total_minor": i.quantity * i.unit_price_minor}
                  for i in state.items],
        "created_at": iso(state.created_at), "updated_at": iso(state.updated_at),
    }
