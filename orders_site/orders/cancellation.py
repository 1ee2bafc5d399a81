"""Cancelling an order on request (the customer's or an operator's), paid or not, until it ships.

Only the order's status changes here: the OrderStatusChanged(to CANCELLED) event is what the other
services react to. The payment service refunds a captured payment through the gateway, the stock
service puts held or sold units back (consumers/payment.py, consumers/stock.py).
"""
from __future__ import annotations

import uuid

from orders_site.eventstore.cause import Cause

from .models import Order
from .status import InvalidTransition, OrderStatus, TRANSITIONS
from .transitions import change_status


class CannotCancel(InvalidTransition):
    """The order is past the point where it can be cancelled; the message says why, for the customer."""


def fetch_correlation(order_id: uuid.UUID) -> uuid.UUID:
    """The saga's correlation id (its OrderCreated event's), so an operator's action joins the saga."""
    from orders_site.eventstore.models import StoredEvent

    first = (StoredEvent.objects.filter(aggregate_type="order", aggregate_id=str(order_id))
             .order_by("sequence").values_list("correlation_id", flat=True).first())
    return first or uuid.uuid4()


def why_not_cancellable(status: OrderStatus) -> str | None:
    """Why an order in `status` cannot be cancelled, in words; None when it can. Pure."""
    if OrderStatus.CANCELLED in TRANSITIONS[status]:
        return None
    if status == OrderStatus.CANCELLED:
        return "the order is already cancelled"
    if status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED):
        return f"the order has {status.value.lower()}: it can no longer be cancelled"
    return f"the order ended as {status.value}: there is nothing to cancel"


def cancel(order_id: uuid.UUID, *, requested_by: str, reason: str = "") -> Order:
    """Cancel the order (paid or not) unless it has shipped or ended. Opens its own transaction
    (through change_status, which locks the order row, so a concurrent shipment cannot slip in).

    Raises CannotCancel with the reason, and Order.DoesNotExist for an unknown order; nothing is
    written then.
    """
    Order.objects.only("pk").get(pk=order_id)  # unknown order: DoesNotExist before anything else
    try:
        return change_status(order_id, OrderStatus.CANCELLED,
                             cause=Cause(event_id=None, event_type=None, correlation_id=fetch_correlation(order_id)),
                             reason=f"{reason or 'cancelled'} (by {requested_by})")
    except InvalidTransition as err:
        # Read again: the status may have changed between the first read and the lock.
        current = OrderStatus(Order.objects.get(pk=order_id).status)
        raise CannotCancel(why_not_cancellable(current) or str(err)) from err


def cancel_and_refund(order_id: uuid.UUID, *, staff_username: str, reason: str = "") -> Order:
    """An operator cancels an order; a captured payment is refunded by the payment service."""
    return cancel(order_id, requested_by=f"staff {staff_username}", reason=reason or "cancelled and refunded in admin")
