"""The delivery service's writes."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import connection

from orders_site.dbbackend import arrays
from orders_site.eventstore.cause import Cause
from orders_site.eventstore.store import Write, append_events, new_caused_event
from orders_site.orders.models import Order
from orders_site.orders.status import OrderStatus
from orders_site.payments.models import Payment

from .models import Delivery


@dataclass(frozen=True)
class Preparation:
    """Prepare the delivery of this (paid) order."""

    order_id: uuid.UUID
    cause: Cause


def prepare_deliveries(preparations: list[Preparation]) -> list[uuid.UUID]:
    """Create the delivery of each paid order -> DeliveryPrepared. Requires: a transaction.

    Locks the orders (primary-key order) so a cancellation cannot slip in between the check and
    the insert. Skips (no delivery, no event) an order cancelled or refunded meanwhile and one that
    has its delivery already; returns the ids of the deliveries created.
    Plain SQL, one statement to read and one to write the deliveries with their events: with the ORM (three queries and a model per
    delivery) this was half of the consumer's CPU (docs/benchmarks.md, "Saga, third pass").
    """
    ids = sorted({p.order_id for p in preparations})
    with connection.cursor() as cur:
        cur.execute(  # the lock as in saga.apply_results
            f"SELECT o.id, o.status = %s OR EXISTS (SELECT 1 FROM {Payment._meta.db_table} p"
            f"  WHERE p.order_id = o.id AND p.status = %s),"
            f" EXISTS (SELECT 1 FROM {Delivery._meta.db_table} d WHERE d.order_id = o.id)"
            f" FROM {Order._meta.db_table} o WHERE o.id = ANY(%b::uuid[]) ORDER BY o.id FOR NO KEY UPDATE OF o",
            [OrderStatus.CANCELLED.value, Payment.Status.REFUNDED.value, arrays.uuids(ids)])
        found = {order_id: (void, done) for order_id, void, done in cur.fetchall()}
    created: list[tuple[uuid.UUID, uuid.UUID]] = []  # (delivery, order)
    events = []
    status = Delivery.Status.PREPARING.value
    for preparation in preparations:
        order_id = preparation.order_id
        if order_id not in found:
            raise Order.DoesNotExist(f"unknown order {order_id}")
        void, done = found[order_id]
        if void or done:
            continue
        found[order_id] = (void, True)
        delivery_id = uuid.uuid4()
        created.append((delivery_id, order_id))
        events.append(new_caused_event("DeliveryPrepared", str(order_id), {
            "order_id": str(order_id), "delivery_id": str(delivery_id), "status": status}, preparation.cause))
    append_events(events, along=[Write(
        f"INSERT INTO {Delivery._meta.db_table} (id, order_id, status, carrier, tracking_number, created_at)"
        " SELECT d.id, d.order_id, %s, '', '', now() FROM unnest(%b::uuid[], %b::uuid[]) AS d(id, order_id)",
        [status, arrays.uuids(d for d, _ in created), arrays.uuids(o for _, o in created)]) if created else None])
    return [d for d, _ in created]
