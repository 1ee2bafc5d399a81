"""Telling customers about order outcomes: one notification per order and outcome, ever."""
from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from orders_site.eventstore.cause import Cause
from orders_site.eventstore.store import append_events, new_caused_event
from orders_site.orders.models import Order

from .models import Notification

log = logging.getLogger("notifications")
KIND_OF_STATUS = {"DELIVERY_PREPARING": "ORDER_CONFIRMED", "STOCK_REJECTED": "ORDER_REJECTED",
                  "PAYMENT_FAILED": "PAYMENT_FAILED", "CANCELLED": "ORDER_CANCELLED"}
MESSAGES = {"ORDER_CONFIRMED": "Your order {number} is paid and being prepared for delivery.",
            "ORDER_REJECTED": "Sorry, order {number} could not be fulfilled: {reason}. You were not charged.",
            "PAYMENT_FAILED": "The payment for order {number} failed ({reason}). Nothing was charged.",
            "ORDER_CANCELLED": "Order {number} was cancelled. Any payment taken is refunded."}


def outbox_file() -> Path:
    return Path(os.environ.get("NOTIFICATIONS_FILE", Path(settings.STATIC_ROOT or ".").parent / "notifications.log"))


@dataclass(frozen=True)
class Outcome:
    """An order reached a status the customer hears about."""

    order_id: uuid.UUID
    to_status: str
    reason: str
    cause: Cause


def notify_outcomes(outcomes: list[Outcome]) -> list[Notification]:
    """Record each notification and its NotificationSent event; "send" them once the transaction
    commits (file backend), so a rolled-back or redelivered event never sends. At most one per order
    and kind, ever (also a database constraint). Requires: a transaction. Returns those created."""
    wanted = [o for o in outcomes if o.to_status in KIND_OF_STATUS]
    ids = {o.order_id for o in wanted}
    orders = {o.pk: o for o in Order.objects.select_related("customer").filter(pk__in=ids)}
    sent = set(Notification.objects.filter(order_id__in=ids).values_list("order_id", "kind"))
    created: list[Notification] = []
    events = []
    for outcome in wanted:
        kind = KIND_OF_STATUS[outcome.to_status]
        order = orders.get(outcome.order_id)
        if order is None:
            raise Order.DoesNotExist(f"unknown order {outcome.order_id}")
        if (order.pk, kind) in sent:
            continue
        sent.add((order.pk, kind))
        recipient = order.customer.email or f"{order.customer.get_username()}@customers.example"
        notification = Notification(order=order, kind=kind, channel="file", recipient=recipient,
                                    body=MESSAGES[kind].format(number=order.number,
                                                               reason=outcome.reason or "no reason given"))
        created.append(notification)
        events.append(new_caused_event("NotificationSent", str(order.pk), {
            "order_id": str(order.pk), "notification_id": str(notification.pk), "kind": kind, "channel": "file",
            "recipient": recipient}, outcome.cause))
    Notification.objects.bulk_create(created)
    append_events(events)
    if created:
        transaction.on_commit(lambda: _deliver(created), robust=True)
    return created


def _deliver(notifications: list[Notification]) -> None:
    path = outbox_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write("".join(f"{n.sent_at.isoformat()} to={n.recipient} kind={n.kind} {n.body}\n"
                         for n in notifications))
    log.info("sent %d notification(s)", len(notifications))
