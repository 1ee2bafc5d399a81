"""Telling customers about order outcomes: one notification per order and outcome, ever."""
from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

from django.conf import settings
from django.db import transaction

from orders_site.eventstore.store import record_event
from orders_site.orders.models import Order

from .models import Notification

log = logging.getLogger("notifications")
KIND_OF_STATUS = {"DELIVERY_PREPARING": "ORDER_CONFIRMED", "STOCK_REJECTED": "ORDER_REJECTED",
                  "PAYMENT_FAILED": "PAYMENT_FAILED", "CANCELLED": "ORDER_CANCELLED",
                  "SHIPPED": "ORDER_SHIPPED", "DELIVERED": "ORDER_DELIVERED"}
MESSAGES = {"ORDER_CONFIRMED": "Your order {number} is paid and being prepared for delivery.",
            "ORDER_REJECTED": "Sorry, order {number} could not be fulfilled: {reason}. You were not charged.",
            "PAYMENT_FAILED": "The payment for order {number} failed ({reason}). Nothing was charged.",
            "ORDER_CANCELLED": "Order {number} was cancelled. Any payment taken is refunded.",
            "ORDER_SHIPPED": "Your order {number} has shipped {reason}.",
            "ORDER_DELIVERED": "Your order {number} was delivered. Thank you for shopping with us."}


def outbox_file() -> Path:
    return Path(os.environ.get("NOTIFICATIONS_FILE", Path(settings.STATIC_ROOT or ".").parent / "notifications.log"))


def notify_outcome(order_id: uuid.UUID, to_status: str, reason: str, *, correlation_id: uuid.UUID,
                   cause_event_id: uuid.UUID) -> Notification | None:
    """Record the notification and its NotificationSent event; "send" it once the transaction
    commits (file backend), so a rolled-back or redelivered event never sends. Requires: a transaction."""
    kind = KIND_OF_STATUS.get(to_status)
    if kind is None:
        return None
    order = Order.objects.select_related("customer").get(pk=order_id)
    recipient = order.customer.email or f"{order.customer.get_username()}@customers.example"
    body = MESSAGES[kind].format(number=order.number, reason=reason or "no reason given")
    notification, created = Notification.objects.get_or_create(
        order=order, kind=kind, defaults={"channel": "file", "recipient": recipient, "body": body})
    if not created:
        return notification
    record_event("NotificationSent", str(order.pk), {"order_id": str(order.pk), "notification_id": str(notification.pk),
                                                     "kind": kind, "channel": "file", "recipient": recipient},
                 correlation_id=correlation_id, causation_id=cause_event_id)
    transaction.on_commit(lambda: _deliver(notification), robust=True)
    return notification


def _deliver(notification: Notification) -> None:
    path = outbox_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(f"{notification.sent_at.isoformat()} to={notification.recipient} kind={notification.kind} "
                 f"{notification.body}\n")
    log.info("sent %s to %s", notification.kind, notification.recipient)
