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
    CANCELLED = "CANCELLED"


S = OrderStatus
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.ORDERED: frozenset({S.STOCK_HELD, S.STOCK_REJECTED, S.CANCELLED}),
    S.STOCK_HELD: frozenset({S.PAYMENT_COMPLETED, S.PAYMENT_FAILED, S.CANCELLED}),
    S.PAYMENT_COMPLETED: frozenset({S.DELIVERY_PREPARING}),
    S.STOCK_REJECTED: frozenset(),
    S.PAYMENT_FAILED: frozenset(),
    S.DELIVERY_PREPARING: frozenset(),
    S.CANCELLED: frozenset(),
}
TERMINAL = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
# Outcomes a customer hears about (one notification each).
OUTCOMES = frozenset({S.STOCK_REJECTED, S.PAYMENT_FAILED, S.DELIVERY_PREPARING, S.CANCELLED})


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
    """True when `current` is `target` or a status that `target` leads to (a stale result)."""
    return current == target or any(already_past(current, nxt) for nxt in TRANSITIONS[target])
