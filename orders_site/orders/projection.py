"""The order projection: current state folded from the order's events, and the rows that hold it.

`apply` is pure (state, event) -> state; the live path and `rebuild_orders` both go through it, so
the `orders` / `order_items` tables are by construction what the event store says.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.db import connection

from orders_site.dbbackend import arrays
from orders_site.eventstore import avro
from orders_site.eventstore.models import StoredEvent
from orders_site.eventstore.store import Write

from .models import Order, OrderItem
from .status import OrderStatus


@dataclass(frozen=True)
class ItemState:
    sku: str
    product_name: str
    quantity: int
    unit_price_minor: int


@dataclass(frozen=True)
class OrderState:
    order_id: uuid.UUID
    number: str
    customer_id: int
    status: OrderStatus
    total_minor: int
    currency: str
    payment_method: str
    shipping_note: str
    status_reason: str
    version: int
    created_at: datetime
    updated_at: datetime
    items: tuple[ItemState, ...] = field(default_factory=tuple)


class ProjectionError(ValueError):
    """An event cannot be applied to the state (wrong order, unknown type for this aggregate)."""


def apply(state: OrderState | None, event_type: str, record: dict[str, Any], *, sequence: int,
          occurred_at: datetime) -> OrderState:
    """Fold one event into the state. Raises ProjectionError for an event out of sequence."""
    expected = (state.version if state else 0) + 1
    if sequence != expected:
        raise ProjectionError(f"order event #{sequence} applied where #{expected} was expected")
    if event_type == "OrderCreated":
        if state is not None:
            raise ProjectionError("OrderCreated applied to an existing order")
        return OrderState(
            order_id=uuid.UUID(str(record["order_id"])), number=record["order_number"],
            customer_id=int(record["customer_id"]), status=OrderStatus.ORDERED,
            total_minor=record["total_minor"], currency=record["currency"],
            payment_method=record["payment_method"], shipping_note=record.get("shipping_note") or "",
            status_reason="", version=sequence, created_at=record["created_at"], updated_at=occurred_at,
            items=tuple(ItemState(i["sku"], i["product_name"], i["quantity"], i["unit_price_minor"])
                        for i in record["items"]))
    if state is None:
        raise ProjectionError(f"{event_type} applied before OrderCreated")
    if event_type == "OrderStatusChanged":
        return replace(state, status=OrderStatus(record["to_status"]), status_reason=record.get("reason") or "",
                       version=sequence, updated_at=occurred_at)
    raise ProjectionError(f"unknown order event type {event_type}")


def replay(events: Iterable[StoredEvent]) -> OrderState | None:
    """Fold stored events (in sequence order) into a state; None when there are none."""
    state = None
    for event in events:
        record = avro.decode(bytes(event.payload), expected_event_type=event.event_type).record
        state = apply(state, event.event_type, record, sequence=event.sequence, occurred_at=event.occurred_at)
    return state


def _order_fields(state: OrderState) -> dict[str, Any]:
    return dict(number=state.number, customer_id=state.customer_id, status=state.status.value,
                total_minor=state.total_minor, currency=state.currency, payment_method=state.payment_method,
                shipping_note=state.shipping_note, status_reason=state.status_reason, version=state.version,
                created_at=state.created_at, updated_at=state.updated_at)


def state_of(order: Order, *, with_items: bool = False) -> OrderState:
    """The state the rows hold (the inverse of what insert/upsert write). Items only on request:
    a status change does not touch them, and reading them costs a query."""
    items = tuple(ItemState(i.sku, i.product_name, i.quantity, i.unit_price_minor)
                  for i in order.items.all()) if with_items else ()
    return OrderState(
        order_id=order.pk, number=order.number, customer_id=order.customer_id, status=OrderStatus(order.status),
        total_minor=order.total_minor, currency=order.currency, payment_method=order.payment_method,
        shipping_note=order.shipping_note, status_reason=order.status_reason, version=order.version,
        created_at=order.created_at, updated_at=order.updated_at, items=items)


_STATE_COLUMNS = ("id, number, customer_id, status, total_minor, currency, payment_method, shipping_note,"
                  " status_reason, version, created_at, updated_at")


def lock_states(order_ids: list[uuid.UUID]) -> dict[uuid.UUID, OrderState]:
    """The orders' states (without items), their rows locked FOR NO KEY UPDATE in primary-key order
    (see saga.apply_results for why that lock). Requires: a transaction. Plain SQL into states: building
    Order models on the way cost the order consumer an eighth of its CPU (docs/benchmarks.md,
    "Saga, third pass")."""
    with connection.cursor() as cur:
        cur.execute(f"SELECT {_STATE_COLUMNS} FROM {Order._meta.db_table} WHERE id = ANY(%b::uuid[])"
                    " ORDER BY id FOR NO KEY UPDATE", [arrays.uuids(sorted(order_ids))])
        return {row[0]: OrderState(row[0], row[1], row[2], OrderStatus(row[3]), *row[4:]) for row in cur.fetchall()}


# One statement for the order row and all its lines (unnest of one array per column): one round trip
# whatever the basket size, and no ORM model building on the checkout path. The arrays go in binary
# (%b): psycopg builds a text array element by element in Python, which made this the checkout's
# costliest statement to send (docs/benchmarks.md, "Checkout API, fourth pass").
_INSERT_ROWS = """
WITH new_order AS (
    INSERT INTO orders (id, number, customer_id, status, total_minor, currency, payment_method, shipping_note,
                        status_reason, version, created_at, updated_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
    RETURNING id)
INSERT INTO order_items (order_id, sku, product_name, quantity, unit_price_minor)
SELECT new_order.id, line.sku, line.product_name, line.quantity, line.unit_price_minor
FROM new_order, unnest(%b::varchar[], %b::varchar[], %b::integer[], %b::bigint[]) WITH ORDINALITY
     AS line(sku, product_name, quantity, unit_price_minor, n)
ORDER BY line.n
"""


def insert_rows(state: OrderState) -> None:
    """Write a new order's rows in one statement. Requires: the transaction that appended its OrderCreated event."""
    f = _order_fields(state)
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_ROWS, [
            state.order_id, f["number"], f["customer_id"], f["status"], f["total_minor"], f["currency"],
            f["payment_method"], f["shipping_note"], f["status_reason"], f["version"], f["created_at"],
            f["updated_at"], [i.sku for i in state.items], [i.product_name for i in state.items],
            [i.quantity for i in state.items], [i.unit_price_minor for i in state.items]])


def as_order(state: OrderState) -> Order:
    """The Order model instance for rows insert_rows wrote (no query)."""
    order = Order(id=state.order_id, **_order_fields(state))
    order._state.adding, order._state.db = False, "default"
    return order


def status_changes(states: list[OrderState]) -> Write | None:
    """Existing orders' changed fields as one UPDATE, to run along their events
    (store.append_events). Requires: the transaction that holds their rows locked."""
    if not states:
        return None
    return Write(
        "UPDATE orders SET status = v.status, status_reason = v.reason, version = v.version,"
        " updated_at = v.updated_at"
        " FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::int[], %b::timestamptz[])"
        "  AS v(id, status, reason, version, updated_at) WHERE orders.id = v.id",
        [arrays.uuids(s.order_id for s in states), arrays.texts(s.status.value for s in states),
         arrays.texts(s.status_reason for s in states), arrays.ints(s.version for s in states),
         arrays.timestamptzs(s.updated_at for s in states)])


def upsert(state: OrderState) -> None:
    """Make the rows equal `state` whatever they hold now (used by rebuild_orders)."""
    Order.objects.update_or_create(id=state.order_id, defaults=_order_fields(state))
    OrderItem.objects.filter(order_id=state.order_id).delete()
    OrderItem.objects.bulk_create([OrderItem(order_id=state.order_id, sku=i.sku, product_name=i.product_name,
                                             quantity=i.quantity, unit_price_minor=i.unit_price_minor)
                                   for i in state.items])
