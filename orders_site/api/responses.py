"""Response bodies built from an order's state, without a query or a serializer instance: the
checkout's 201 (the same JSON OrderSerializer gives for the stored rows; a test holds them equal)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from orders_site.orders.projection import OrderState


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
