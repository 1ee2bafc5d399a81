"""The delivery service's writes."""
from __future__ import annotations

import uuid

from orders_site.eventstore.store import record_event
from orders_site.orders.models import Order
from orders_site.orders.status import OrderStatus
from orders_site.payments.models import Payment

from .models import Delivery


def prepare_delivery(order_id: uuid.UUID, *, correlation_id: uuid.UUID, cause_event_id: uuid.UUID) -> Delivery | None:
    """Create the delivery of a paid order -> DeliveryPrepared. Requires: a transaction.

    None (and no event) for an order that was cancelled / refunded meanwhile; idempotent per order.
    """
    order = Order.objects.select_for_update().get(pk=order_id)
    if order.status == OrderStatus.CANCELLED or Payment.objects.filter(order=order, status=Payment.Status.REFUNDED).exists():
        return None
    delivery, created = Delivery.objects.get_or_create(order=order)
    if created:
        record_event("DeliveryPrepared", str(order.pk), {"order_id": str(order.pk), "delivery_id": str(delivery.pk),
                                                         "status": delivery.status},
                     correlation_id=correlation_id, causation_id=cause_event_id)
    return delivery
