"""The delivery after it was prepared: shipped with a carrier, then delivered (operator actions).

Each step writes the delivery's event (DeliveryShipped / DeliveryDelivered, naming the staff user) and
moves the order through its state machine in the same transaction, with the order row locked: a
cancellation racing a shipment waits for it and is then refused. The notification service tells the
customer on the order's OrderStatusChanged (to SHIPPED / DELIVERED).
"""
from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from orders_site.eventstore.cause import Cause
from orders_site.eventstore.store import record_event
from orders_site.orders.cancellation import fetch_correlation
from orders_site.orders.models import Order
from orders_site.orders.status import InvalidTransition, OrderStatus, check_transition
from orders_site.orders.transitions import change_status

from .models import Delivery


class BadShipment(ValueError):
    """Carrier or tracking number missing or too long."""


def _locked(order_id: uuid.UUID, target: OrderStatus) -> tuple[Order, Delivery]:
    order = Order.objects.select_for_update(no_key=True).get(pk=order_id)  # see orders.saga.apply_results
    check_transition(OrderStatus(order.status), target)
    delivery = Delivery.objects.select_for_update().filter(order=order).first()
    if delivery is None:  # the state machine says prepared, but the row is not there: refuse, do not invent it
        raise InvalidTransition(f"order {order.number} has no delivery yet")
    return order, delivery


def ship(order_id: uuid.UUID, *, carrier: str, tracking_number: str, staff_username: str) -> Delivery:
    """DELIVERY_PREPARING -> SHIPPED. Opens its own transaction; locks the order, then its delivery.

    Raises BadShipment for missing details and InvalidTransition when the order is not waiting to
    ship (cancelled, already shipped...); nothing is written then.
    """
    carrier, tracking_number = carrier.strip(), tracking_number.strip()
    if not carrier or not tracking_number:
        raise BadShipment("a shipment needs both a carrier and a tracking number")
    if len(carrier) > 60 or len(tracking_number) > 80:
        raise BadShipment("carrier (60) or tracking number (80 characters) too long")
    with transaction.atomic():
        order, delivery = _locked(order_id, OrderStatus.SHIPPED)
        delivery.status, delivery.carrier, delivery.tracking_number = Delivery.Status.SHIPPED, carrier, tracking_number
        delivery.shipped_at = timezone.now()
        delivery.save()
        correlation = fetch_correlation(order.pk)
        event = record_event("DeliveryShipped", str(order.pk), {
            "order_id": str(order.pk), "delivery_id": str(delivery.pk), "carrier": carrier,
            "tracking_number": tracking_number, "recorded_by": staff_username}, correlation_id=correlation)
        change_status(order.pk, OrderStatus.SHIPPED, reason=f"with {carrier}, tracking number {tracking_number}",
                      cause=Cause(event.event_id, "DeliveryShipped", correlation))
        return delivery


def mark_delivered(order_id: uuid.UUID, *, staff_username: str) -> Delivery:
    """SHIPPED -> DELIVERED. Opens its own transaction; InvalidTransition when not shipped."""
    with transaction.atomic():
        order, delivery = _locked(order_id, OrderStatus.DELIVERED)
        delivery.status, delivery.delivered_at = Delivery.Status.DELIVERED, timezone.now()
        delivery.save()
        correlation = fetch_correlation(order.pk)
        event = record_event("DeliveryDelivered", str(order.pk), {
            "order_id": str(order.pk), "delivery_id": str(delivery.pk), "recorded_by": staff_username},
            correlation_id=correlation)
        change_status(order.pk, OrderStatus.DELIVERED, reason=f"handed over by {delivery.carrier}",
                      cause=Cause(event.event_id, "DeliveryDelivered", correlation))
        return delivery
