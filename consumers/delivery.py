"""Delivery service: prepare the delivery of every paid order."""
from __future__ import annotations

from orders_site.shipping.services import Preparation, prepare_deliveries

from .events import InboundEvent, cause_of, order_of
from .registry import Service

SERVICE = Service(name="delivery", topics=["shop.payment.events"])


@SERVICE.handles("PaymentCompleted")
def on_payments_completed(events: list[InboundEvent]) -> None:
    prepare_deliveries([Preparation(order_of(e), cause_of(e)) for e in events])
