"""The order service's reaction to other services' results: move the order, never do their work."""
from __future__ import annotations

import logging
import uuid

from django.db import transaction

from .models import Order
from .status import OrderStatus, already_past, path_to
from .transitions import Cause, change_status

log = logging.getLogger("orders.saga")

RESULT_STATUS: dict[str, OrderStatus] = {
    "StockHeld": OrderStatus.STOCK_HELD,
    "StockRejected": OrderStatus.STOCK_REJECTED,
    "PaymentCompleted": OrderStatus.PAYMENT_COMPLETED,
    "PaymentFailed": OrderStatus.PAYMENT_FAILED,
    "DeliveryPrepared": OrderStatus.DELIVERY_PREPARING,
}


def apply_result(order_id: uuid.UUID, event_type: str, reason: str, cause: Cause) -> list[OrderStatus]:
    """Move the order to the status `event_type` implies. Requires: a transaction (joins it).

    Returns the statuses applied; [] when the event is stale or contradicts the order's state (e.g. a
    payment completing after a cancellation, which the payment service refunds). Such an event is
    logged and refused, never a crash.
    """
    target = RESULT_STATUS[event_type]
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        current = OrderStatus(order.status)
        steps = path_to(current, target)
        if not steps:
            if already_past(current, target):  # routine: it was implied by a later result
                log.info("order %s: %s already applied (status %s)", order_id, event_type, current)
            else:
                log.warning("order %s: %s refused in status %s", order_id, event_type, current)
            return []
        for step in steps:
            change_status(order.pk, step, cause=cause, reason=reason if step == target else
                          f"implied by {event_type}")
        return steps
