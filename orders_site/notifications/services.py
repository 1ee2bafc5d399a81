"""Telling customers about order outcomes: one notification per order and outcome, ever."""
from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from orders_site.dbbackend import arrays
from orders_site.eventstore.cause import Cause
from orders_site.eventstore.store import Write, append_events, new_caused_event
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


@dataclass(frozen=True)
class Outcome:
    """An order reached a status the customer hears about."""

    order_id: uuid.UUID
    to_status: str
    reason: str
    cause: Cause


@dataclass
class _Recipient:
    order_id: uuid.UUID
    number: str
    recipient: str
    sent: set[str]  # kinds this order was told about already


def _recipients(order_ids: set[uuid.UUID]) -> dict[uuid.UUID, _Recipient]:
    """Who to tell about each order, and what they were told before, in one statement (plain SQL:
    Order and User models built for three fields cost the consumer a quarter of its CPU,
    docs/benchmarks.md, "Saga, third pass")."""
    user = get_user_model()
    username = user._meta.get_field(user.USERNAME_FIELD).column
    with connection.cursor() as cur:
        cur.execute(f"SELECT o.id, o.number, u.email, u.{username},"
                    f" ARRAY(SELECT n.kind FROM {Notification._meta.db_table} n WHERE n.order_id = o.id)"
                    f" FROM {Order._meta.db_table} o"
                    f" JOIN {user._meta.db_table} u ON u.{user._meta.pk.column} = o.customer_id"
                    f" WHERE o.id = ANY(%b::uuid[])", [arrays.uuids(order_ids)])
        return {order_id: _Recipient(order_id, number, email or f"{name}@customers.example", set(kinds))
                for order_id, number, email, name, kinds in cur.fetchall()}


def notify_outcomes(outcomes: list[Outcome]) -> list[Notification]:
    """Record each notification and its NotificationSent event; "send" them once the transaction
    commits (file backend), so a rolled-back or redelivered event never sends. At most one per order
    and kind, ever (also a database constraint). Requires: a transaction. Returns those created."""
    wanted = [o for o in outcomes if o.to_status in KIND_OF_STATUS]
    orders = _recipients({o.order_id for o in wanted})
    created: list[Notification] = []
    events = []
    for outcome in wanted:
        kind = KIND_OF_STATUS[outcome.to_status]
        order = orders.get(outcome.order_id)
        if order is None:
            raise Order.DoesNotExist(f"unknown order {outcome.order_id}")
        if kind in order.sent:
            continue
        order.sent.add(kind)
        notification = Notification(order_id=order.order_id, kind=kind, channel="file", recipient=order.recipient,
                                    body=MESSAGES[kind].format(number=order.number,
                                                               reason=outcome.reason or "no reason given"))
        created.append(notification)
        events.append(new_caused_event("NotificationSent", str(order.order_id), {
            "order_id": str(order.order_id), "notification_id": str(notification.pk), "kind": kind,
            "channel": "file", "recipient": order.recipient}, outcome.cause))
    append_events(events, along=[_new_notifications(created)])
    if created:
        transaction.on_commit(lambda: _deliver(created), robust=True)
    return created


def _new_notifications(notifications: list[Notification]) -> Write | None:
    """One INSERT for the batch's notifications (stamping `sent_at` as auto_now_add would). Plain SQL:
    bulk_create's per-object preparation was an eighth of the notification consumer's CPU
    (docs/benchmarks.md, "Saga, fourth pass"). A second notification of an order and kind still
    fails on the constraint, as it did."""
    if not notifications:
        return None
    now = timezone.now()
    for n in notifications:
        n.sent_at = now
        n._state.adding, n._state.db = False, "default"  # saved, as bulk_create would have marked it
    return Write(
        f"INSERT INTO {Notification._meta.db_table} (id, order_id, kind, channel, recipient, body, sent_at)"
        " SELECT n.*, %s FROM unnest(%b::uuid[], %b::uuid[], %b::text[], %b::text[], %b::text[], %b::text[])"
        "  AS n(id, order_id, kind, channel, recipient, body)",
        [now, arrays.uuids(n.pk for n in notifications), arrays.uuids(n.order_id for n in notifications),
         arrays.texts(n.kind for n in notifications), arrays.texts(n.channel for n in notifications),
         arrays.texts(n.recipient for n in notifications), arrays.texts(n.body for n in notifications)])


def _deliver(notifications: list[Notification]) -> None:
    path = outbox_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write("".join(f"{n.sent_at.isoformat()} to={n.recipient} kind={n.kind} {n.body}\n"
                         for n in notifications))
    log.info("sent %d notification(s)", len(notifications))
