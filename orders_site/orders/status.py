"""The order state machine, as data. Pure: no I/O, so it is unit-tested exhaustively."""
from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    ORDERED = "ORDERED"
    STOCK_HELD = "STOCK_HELD"
    STOCK_REJECTED = "STOCK_REJECTED"
    PAYMENT_COMPLETED = "PAYMENT_COMPLETED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    DELIVERY_PREPARING = "DELIVERY_PREPARING"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"


S = OrderStatus
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.ORDERED: frozenset({S.STOCK_HELD, S.STOCK_REJECTED, S.CANCELLED}),
    S.STOCK_HELD: frozenset({S.PAYMENT_COMPLETED, S.PAYMENT_FAILED, S.CANCELLED}),
    # A paid order can be cancelled until it ships: the payment service refunds it, the stock
    # service puts its units back on the shelf.
    S.PAYMENT_COMPLETED: frozenset({S.DELIVERY_PREPARING, S.CANCELLED}),
    S.DELIVERY_PREPARING: frozenset({S.SHIPPED, S.CANCELLED}),
    S.SHIPPED: frozenset({S.DELIVERED}),  # once the parcel left, cancelling is refused
    S.STOCK_REJECTED: frozenset(),
    S.PAYMENT_FAILED: frozenset(),
    S.DELIVERED: frozenset(),
    S.CANCELLED: frozenset(),
}
FINAL = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
# Statuses the carrier (through an operator) moves on, never a service of the saga.
AWAITING_CARRIER = frozenset({S.DELIVERY_PREPARING, S.SHIPPED})
# Where the saga leaves an order: no service will move it on by itself. An order elsewhere is in
# progress, and one in progress for long is stuck (the invariant checker and the admin report it).
TERMINAL = FINAL | AWAITING_CARRIER
# Orders whose money is kept (captured and not refunded).
PAID = frozenset({S.PAYMENT_COMPLETED, S.DELIVERY_PREPARING, S.SHIPPED, S.DELIVERED})
# Outcomes a customer hears about (one notification each).
OUTCOMES = frozenset({S.STOCK_REJECTED, S.PAYMENT_FAILED, S.DELIVERY_PREPARING, S.SHIPPED, S.DELIVERED,
                      S.CANCELLED})
# Status changes published on shop.order.events (schemas/README.md, "What is published"). The others,
# STOCK_HELD and PAYMENT_COMPLETED, only restate a fact the stock or payment service has published
# already (StockHeld, PaymentCompleted) and no service acts on them: they stay in the event store (the
# order's history, replay, the admin's timeline) and off Kafka, where every reader of the order topic
# paid to read and ignore them (docs/benchmarks.md, "Saga").
PUBLISHED = OUTCOMES


class InvalidTransition(ValueError):
    """The requested status change is not allowed from the current status."""


def check_transition(current: OrderStatus, target: OrderStatus) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(f"{current} -> {target} is not a valid order transition")


# Each saga outcome presupposes the step before it: payment is only attempted on held stock,
# delivery only prepared for a paid order. Results arrive on different topics (partitions), so an
# order can hear "paid" before "stock held"; the earlier step is then known to have happened.
PRESUPPOSES: dict[OrderStatus, OrderStatus] = {
    S.PAYMENT_COMPLETED: S.STOCK_HELD,
    S.PAYMENT_FAILED: S.STOCK_HELD,
    S.DELIVERY_PREPARING: S.PAYMENT_COMPLETED,
    S.SHIPPED: S.DELIVERY_PREPARING,
    S.DELIVERED: S.SHIPPED,
}


def path_to(current: OrderStatus, target: OrderStatus) -> list[OrderStatus]:
    """The transitions that take `current` to `target`, filling in presupposed steps.

    [] when `target` is not reachable: the event is stale (already past it) or contradicts the order's
    history (e.g. paid after cancellation); the caller decides what that means.
    """
    if target in TRANSITIONS[current]:
        return [target]
    before = PRESUPPOSES.get(target)
    if before is None or before == current:
        return []
    lead = path_to(current, before)
    return lead + [target] if lead else []


def already_past(current: OrderStatus, target: OrderStatus) -> bool:
    """True when `current` is `target` or a status that `target` leads to (a stale result).

    Cancellation is not progress: a cancelled order may have been paid or not, so a result heard after
    it counts as contradicting (the payment service refunds what must be)."""
    return current == target or any(already_past(current, nxt) for nxt in TRANSITIONS[target]
                                    if nxt != S.CANCELLED)
