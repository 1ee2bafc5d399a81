"""The order service's reaction to other services' results: move the order, never do their work."""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.utils import timezone

from orders_site.eventstore.cause import Cause
from orders_site.eventstore.store import NewEvent, append_events

from . import projection
from .models import Order
from .status import OrderStatus, already_past, path_to
from .transitions import step

log = logging.getLogger("orders.saga")

RESULT_STATUS: dict[str, OrderStatus] = {
    "StockHeld": OrderStatus.STOCK_HELD,
    "StockRejected": OrderStatus.STOCK_REJECTED,
    "PaymentCompleted": OrderStatus.PAYMENT_COMPLETED,
    "PaymentFailed": OrderStatus.PAYMENT_FAILED,
    "DeliveryPrepared": OrderStatus.DELIVERY_PREPARING,
}


@dataclass(frozen=True)
class Result:
    """Another service's result about one order (e.g. StockHeld), as the order service applies it."""

    order_id: uuid.UUID
    event_type: str
    reason: str
    cause: Cause


def apply_results(results: list[Result]) -> dict[uuid.UUID, list[OrderStatus]]:
    """Move each order to the status its results imply, in list order. Requires: a transaction.

    Locks every order of the list in one statement, in primary-key order (two writers never
    deadlock), then appends all OrderStatusChanged events and updates the projection in a second
    statement. The lock is FOR NO KEY UPDATE, as everywhere an order row is locked: an order's key
    never changes, and a plain FOR UPDATE also conflicts with the FOR KEY SHARE lock PostgreSQL takes on the
    order when another service commits a row that references it (a payment, delivery, notification):
    measured, those waits closed cycles with this lock, each a deadlock found only after
    deadlock_timeout (1 s) that stalled two consumers (docs/benchmarks.md, "Saga").
    Returns the statuses applied per order. A result that is stale or contradicts the
    order's state (e.g. paid after a cancellation, which the payment service refunds) is logged and
    refused, never a crash. Raises Order.DoesNotExist for an unknown order (nothing is written).
    """
    ids = sorted({r.order_id for r in results})
    states = projection.lock_states(ids)
    missing = [i for i in ids if i not in states]
    if missing:
        raise Order.DoesNotExist(f"unknown order(s): {', '.join(map(str, missing))}")
    now = timezone.now()
    events: list[NewEvent] = []
    applied: dict[uuid.UUID, list[OrderStatus]] = {}
    for result in results:
        target = RESULT_STATUS[result.event_type]
        state = states[result.order_id]
        steps = path_to(state.status, target)
        if not steps:
            if already_past(state.status, target):  # routine: it was implied by a later result
                log.info("order %s: %s already applied (status %s)", result.order_id, result.event_type, state.status)
            else:
                log.warning("order %s: %s refused in status %s", result.order_id, result.event_type, state.status)
            continue
        for status in steps:
            event, state = step(state, status, cause=result.cause, now=now,
                                reason=result.reason if status == target else f"implied by {result.event_type}")
            events.append(event)
        states[result.order_id] = state
        applied.setdefault(result.order_id, []).extend(steps)
    append_events(events, along=[projection.status_changes([states[i] for i in applied])])
    return applied
