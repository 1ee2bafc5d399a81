"""Notification service: one message to the customer per order outcome."""
from __future__ import annotations

from orders_site.notifications.services import KIND_OF_STATUS, Outcome, notify_outcomes

from .events import InboundEvent, cause_of, order_of
from .registry import Service

SERVICE = Service(name="notification", topics=["shop.order.events"])


@SERVICE.handles("OrderStatusChanged", when=lambda record: record["to_status"] in KIND_OF_STATUS)
def on_outcomes(events: list[InboundEvent]) -> None:
    notify_outcomes([Outcome(order_of(e), e.record["to_status"], e.record.get("reason") or "", cause_of(e))
                     for e in events])
