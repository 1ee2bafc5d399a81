"""Moving an order through its state machine: the only writer of status changes.

Every change appends OrderStatusChanged (sequence = the order's version + 1) and updates the
projection in one transaction, with the order row locked so concurrent changes serialise.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from orders_site.eventstore.cause import Cause
from orders_site.eventstore.store import NewEvent, append_events, new_caused_event

from . import projection
from .models import Order
from .status import PUBLISHED, InvalidTransition, OrderStatus, check_transition


def step(state: projection.OrderState, target: OrderStatus, *, cause: Cause, reason: str,
         now: datetime) -> tuple[NewEvent, projection.OrderState]:
    """One transition of a (locked) order's state: its OrderStatusChanged event and the new state.

    Pure apart from encoding; raises InvalidTransition when `target` is not reachable.
    """
    check_transition(state.status, target)
    record = {"order_id": str(state.order_id), "from_status": state.status.value, "to_status": target.value,
              "reason": reason or None,
              "cause_event_id": str(cause.event_id) if cause.event_id else None,
              "cause_event_type": cause.event_type}
    sequence = state.version + 1
    event = new_caused_event("OrderStatusChanged", str(state.order_id), record, cause, sequence=sequence,
                             occurred_at=now, published=target in PUBLISHED)
    return event, projection.apply(state, "OrderStatusChanged", record, sequence=sequence, occurred_at=now)


def change_status(order_id: uuid.UUID, target: OrderStatus, *, cause: Cause, reason: str = "") -> Order:
    """Apply one transition. Opens (or joins) a transaction and locks the order row.

    Raises InvalidTransition when `target` is not reachable from the current status, and
    Order.DoesNotExist for an unknown order; nothing is written then.
    """
    with transaction.atomic():
        order = Order.objects.select_for_update(no_key=True).get(pk=order_id)  # see saga.apply_results
        event, state = step(projection.state_of(order), target, cause=cause, reason=reason, now=timezone.now())
        append_events([event], along=[projection.status_changes([state])])
        order.status, order.version, order.status_reason, order.updated_at = (
            state.status.value, state.version, state.status_reason, state.updated_at)
        return order


__all__ = ["Cause", "InvalidTransition", "change_status", "step"]
