"""The short chaos run (`make chaos` is the long one): steady orders with a realistic mix while the
relay worker, every consumer, the gateway, PostgreSQL and the broker are killed and restarted in
turn, then the invariant checker over everything the e2e session did.

It runs last (file order): it shuts PostgreSQL down and restarts the broker, which empties it.
"""
from __future__ import annotations

import pytest

from bench.chaos import FAULT_KINDS, GATEWAY_FAULTS, run_chaos
from orders_site.orders.status import TERMINAL
from stack.harness import EmbeddedStack

pytestmark = pytest.mark.e2e


@pytest.fixture
def faulty_gateway(saga: EmbeddedStack):
    """The gateway restarted with random declines, hangs, errors, lost answers and latency; it keeps
    them across the run's own gateway SIGKILLs, and is restarted clean afterwards."""
    gateway = saga["gateway"]
    gateway.env["GATEWAY_FAULTS"] = GATEWAY_FAULTS
    gateway.stop()
    gateway.start()
    yield saga
    gateway.env.pop("GATEWAY_FAULTS")
    gateway.stop()
    gateway.start()


def test_short_chaos_run_keeps_every_invariant(faulty_gateway: EmbeddedStack) -> None:
    result = run_chaos(faulty_gateway, seconds=60, rate=5, fault_every=4, kinds=FAULT_KINDS)
    print(result)  # shown with -s, and kept in the report when an assertion fails

    assert result["all_invariants_hold"], result["invariants"]
    assert set(result["faults_injected"]) == set(FAULT_KINDS), result["faults_injected"]  # each kind, done
    assert result["orders_placed"] >= 100
    assert set(result["orders_by_final_state"]) <= {s.value for s in TERMINAL}, result["orders_by_final_state"]
    # the mix really happened: some orders completed, some were rejected for stock, some payments failed
    assert {"DELIVERY_PREPARING", "STOCK_REJECTED", "PAYMENT_FAILED"} <= set(result["orders_by_final_state"])
