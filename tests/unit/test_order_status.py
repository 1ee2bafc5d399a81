"""The order state machine (pure data)."""
from __future__ import annotations

import itertools

import pytest

from orders_site.orders.status import TERMINAL, TRANSITIONS, InvalidTransition, OrderStatus, check_transition

S = OrderStatus


@pytest.mark.parametrize(("current", "target"), [
    (S.ORDERED, S.STOCK_HELD), (S.ORDERED, S.STOCK_REJECTED), (S.ORDERED, S.CANCELLED),
    (S.STOCK_HELD, S.PAYMENT_COMPLETED), (S.STOCK_HELD, S.PAYMENT_FAILED), (S.STOCK_HELD, S.CANCELLED),
    (S.PAYMENT_COMPLETED, S.DELIVERY_PREPARING),
])
def test_saga_transitions_are_allowed(current: OrderStatus, target: OrderStatus) -> None:
    check_transition(current, target)  # does not raise


def test_everything_else_is_refused() -> None:
    allowed = {(c, t) for c, targets in TRANSITIONS.items() for t in targets}
    for current, target in itertools.product(S, S):
        if (current, target) not in allowed:
            with pytest.raises(InvalidTransition):
                check_transition(current, target)


def test_paid_orders_cannot_be_cancelled_and_outcomes_are_terminal() -> None:
    with pytest.raises(InvalidTransition):
        check_transition(S.PAYMENT_COMPLETED, S.CANCELLED)
    assert TERMINAL == {S.STOCK_REJECTED, S.PAYMENT_FAILED, S.DELIVERY_PREPARING, S.CANCELLED}
