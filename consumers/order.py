"""Order service: moves each order through its state machine as the other services report results."""
from __future__ import annotations

from orders_site.orders.saga import RESULT_STATUS, apply_result

from .context import cause, order_id
from .events import InboundEvent
from .runtime import Service

SERVICE = Service(name="order", topics=["shop.stock.events", "shop.payment.events", "shop.delivery.events"])


def on_result(event: InboundEvent) -> None:
    record = event.record
    reason = record.get("reason") or ""
    if record.get("decline_code"):
        reason = f"{reason} ({record['decline_code']})"
    apply_result(order_id(event), event.event_type, reason, cause(event))


for _event_type in RESULT_STATUS:
    SERVICE.handles(_event_type)(on_result)
