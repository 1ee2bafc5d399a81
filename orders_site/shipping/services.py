"""The delivery service's writes."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from orders_site.eventstore.cause import Cause
from orders_site.eventstore.store import append_events, new_caused_event
from orders_site.orders.models import Order
from orders_site.orders.status import OrderStatus
from orders_site.payments.models import Payment

from .models import Delivery


@dataclass(frozen=True)
class Preparation:
    """Prepare the delivery of this (paid) order."""

    order_id: uuid.UUID
    cause: Cause


def prepare_deliveries(preparations: list[Preparation]) -> list[Delivery]:
    """Create the delivery of each paid order -> DeliveryPrepared. Requires: a transaction.

    Locks the orders (primary-key order) so a cancellation cannot slip in between the check and
    the insert. Skips (no delivery, no event) an order cancelled or refunded meanwhile and one that
    has its delivery already; returns the deliveries created.
    """
    ids = sorted({p.order_id for p in preparations})
    status = dict(Order.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk")  # see saga.apply_results
                  .values_list("pk", "status"))
    refunded = set(Payment.objects.filter(order_id__in=ids, status=Payment.Status.REFUNDED)
                   .values_list("order_id", flat=True))
    done = set(Delivery.objects.filter(order_id__in=ids).values_list("order_id", flat=True))
    created: list[Delivery] = []
    events = []
    for preparation in preparations:
        order_id = preparation.order_id
        if order_id not in status:
            raise Order.DoesNotExist(f"unknown order {order_id}")
        if status[order_id] == OrderStatus.CANCELLED or order_id in refunded or order_id in done:
            continue
        done.add(order_id)
        delivery = Delivery(order_id=order_id)
        created.append(delivery)
        events.append(new_caused_event("DeliveryPrepared", str(order_id), {
            "order_id": str(order_id), "delivery_id": str(delivery.pk), "status": delivery.status},
            preparation.cause))
    Delivery.objects.bulk_create(created)
    append_events(events)
    return created
