"""Delivery service: prepare the delivery of every paid order."""
from __future__ import annotations

from orders_site.shipping.services import prepare_delivery

from .context import correlation, order_id
from .events import InboundEvent
from .runtime import Service

SERVICE = Service(name="delivery", topics=["shop.payment.events"])


@SERVICE.handles("PaymentCompleted")
def on_payment_completed(event: InboundEvent) -> None:
    prepare_delivery(order_id(event), correlation_id=correlation(event), cause_event_id=event.event_id)
