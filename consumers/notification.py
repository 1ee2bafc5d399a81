"""Notification service: one message to the customer per order outcome."""
from __future__ import annotations

from orders_site.notifications.services import KIND_OF_STATUS, notify_outcome

from .context import correlation, order_id
from .events import InboundEvent
from .runtime import Service

SERVICE = Service(name="notification", topics=["shop.order.events"])


@SERVICE.handles("OrderStatusChanged", when=lambda record: record["to_status"] in KIND_OF_STATUS)
def on_order_status_changed(event: InboundEvent) -> None:
    notify_outcome(order_id(event), event.record["to_status"], event.record.get("reason") or "",
                   correlation_id=correlation(event), cause_event_id=event.event_id)
