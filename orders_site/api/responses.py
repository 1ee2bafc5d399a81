"""JSON responses without DRF's renderer machinery, and the checkout's 201 body built from an order's
state without a query or a serializer instance (the same JSON OrderSerializer gives for the stored
rows; a test holds them equal)."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from django.http import HttpResponse

from orders_site.orders.projection import OrderState


def json_response(body: Any, status_code: int, headers: dict[str, str] | None = None) -> HttpResponse:
    """`body` (plain JSON types) as DRF's JSONRenderer writes it: compact, UTF-8, application/json."""
    return HttpResponse(json.dumps(body, ensure_ascii=False, separators=(",", ":")), status=status_code,
                        content_type="application/json", headers=headers)


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
