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
