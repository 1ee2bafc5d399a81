"""The order state machine (pure data)."""
from __future__ import annotations

import itertools

import pytest

from orders_site.orders.status import TERMINAL, InvalidTransition, OrderStatus, check_transition

S = OrderStatus


# Written out by hand, not read from TRANSITIONS: the table under test must agree with this list.
ALLOWED = [
    (S.ORDERED, S.STOCK_HELD), (S.ORDERED, S.STOCK_REJECTED), (S.ORDERED, S.CANCELLED),
    (S.STOCK_HELD, S.PAYMENT_COMPLETED), (S.STOCK_HELD, S.PAYMENT_FAILED), (S.STOCK_HELD, S.CANCELLED),
    (S.PAYMENT_COMPLETED, S.DELIVERY_PREPARING),
]


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_saga_transitions_are_allowed(current: OrderStatus, target: OrderStatus) -> None:
    check_transition(current, target)  # does not raise


@pytest.mark.parametrize(("current", "target"), [pair for pair in itertools.product(S, S) if pair not in ALLOWED])
def test_everything_else_is_refused(current: OrderStatus, target: OrderStatus) -> None:
    with pytest.raises(InvalidTransition):
        check_transition(current, target)


def test_paid_orders_cannot_be_cancelled_and_outcomes_are_terminal() -> None:
    with pytest.raises(InvalidTransition):
        check_transition(S.PAYMENT_COMPLETED, S.CANCELLED)
    assert TERMINAL == {S.STOCK_REJECTED, S.PAYMENT_FAILED, S.DELIVERY_PREPARING, S.CANCELLED}


@pytest.mark.parametrize(("current", "target", "path"), [
    (S.ORDERED, S.STOCK_HELD, [S.STOCK_HELD]),
    (S.ORDERED, S.PAYMENT_COMPLETED, [S.STOCK_HELD, S.PAYMENT_COMPLETED]),  # paid is heard before held
    (S.ORDERED, S.DELIVERY_PREPARING, [S.STOCK_HELD, S.PAYMENT_COMPLETED, S.DELIVERY_PREPARING]),
    (S.ORDERED, S.PAYMENT_FAILED, [S.STOCK_HELD, S.PAYMENT_FAILED]),
    (S.STOCK_HELD, S.DELIVERY_PREPARING, [S.PAYMENT_COMPLETED, S.DELIVERY_PREPARING]),
    (S.PAYMENT_COMPLETED, S.STOCK_HELD, []),      # stale
    (S.CANCELLED, S.PAYMENT_COMPLETED, []),       # contradicts history: refused (and refunded elsewhere)
    (S.STOCK_REJECTED, S.PAYMENT_COMPLETED, []),
    (S.PAYMENT_FAILED, S.DELIVERY_PREPARING, []),
])
def test_path_fills_in_presupposed_steps_only(current: OrderStatus, target: OrderStatus, path: list) -> None:
    from orders_site.orders.status import path_to
    assert path_to(current, target) == path


def test_stale_and_contradicting_results_are_told_apart() -> None:
    from orders_site.orders.status import already_past
    assert already_past(S.DELIVERY_PREPARING, S.STOCK_HELD)
    assert already_past(S.STOCK_HELD, S.STOCK_HELD)
    assert not already_past(S.CANCELLED, S.PAYMENT_COMPLETED)
