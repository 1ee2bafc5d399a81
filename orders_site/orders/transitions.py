"""Moving an order through its state machine: the only writer of status changes.

Every change appends OrderStatusChanged (sequence = the order's version + 1) and updates the
projection in one transaction, with the order row locked so concurrent changes serialise.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from orders_site.eventstore.store import record_event

from . import projection
from .models import Order
from .status import InvalidTransition, OrderStatus, check_transition


@dataclass(frozen=True)
class Cause:
    """The event (or staff action) that caused a transition, for the causation chain."""

    event_id: uuid.UUID | None
    event_type: str | None
    correlation_id: uuid.UUID


def change_status(order_id: uuid.UUID, target: OrderStatus, *, cause: Cause, reason: str = "") -> Order:
    """Apply one transition. Opens (or joins) a transaction and locks the order row.

    Raises InvalidTransition when `target` is not reachable from the current status, and
    Order.DoesNotExist for an unknown order; nothing is written then.
    """
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        current = OrderStatus(order.status)
        check_transition(current, target)
        now = timezone.now()
        record = {"order_id": str(order.pk), "from_status": current.value, "to_status": target.value,
                  "reason": reason or None,
                  "cause_event_id": str(cause.event_id) if cause.event_id else None,
                  "cause_event_type": cause.event_type}
        event = record_event("OrderStatusChanged", str(order.pk), record, sequence=order.version + 1,
                             correlation_id=cause.correlation_id, causation_id=cause.event_id, occurred_at=now)
        state = projection.apply(projection.state_of(order), "OrderStatusChanged", record, sequence=event.sequence,
                                 occurred_at=now)
        projection.update(state)
        order.status, order.version, order.status_reason, order.updated_at = (
            state.status.value, state.version, state.status_reason, state.updated_at)
        return order


def cancel_order(order_id: uuid.UUID, *, reason: str, requested_by: str) -> Order:
    """Cancel an order that has not shipped (staff action or customer request).

    The stock service releases the reservation on OrderStatusChanged(to CANCELLED); a captured
    payment, or one that completes afterwards, is refunded by the payment service. Raises InvalidTransition when too late
    and Order.DoesNotExist for an unknown order (from change_status).
    """
    return change_status(order_id, OrderStatus.CANCELLED,
                         cause=Cause(event_id=None, event_type=None, correlation_id=uuid.uuid4()),
                         reason=f"{reason} (by {requested_by})")


__all__ = ["Cause", "InvalidTransition", "cancel_order", "change_status"]
