"""Pure parts of the benchmark scripts: the numbers they print rest on these."""
from __future__ import annotations

import uuid

from bench.api import _fresh_values, _renew
from bench.saga import _slope
from bench.stackup import percentile


def test_backlog_slope_is_the_least_squares_growth_per_second() -> None:
    assert _slope([(t, 5 + 3 * t) for t in range(10, 30)]) == 3.0
    assert _slope([(t, 7) for t in range(10, 30)]) == 0.0
    assert _slope([(1.0, 4)]) == 0.0  # too few samples to tell


def test_the_handlers_split_is_a_cost_per_order_and_a_cost_per_round() -> None:
    from bench.handlers import split

    # 2 ms per order and 12 ms per round of batches, whatever the round carries
    runs = [{"orders_per_round": b, "cpu_ms_per_order": 2 + 12 / b} for b in (1, 5, 20, 50)]
    assert split(runs) == {"cpu_ms_per_order": 2.0, "cpu_ms_per_round_of_batches": 12.0}


def test_percentile_picks_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 51.0  # rank round(0.5 * 99) = 50, zero-based
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0


def test_a_replayed_checkout_gets_fresh_ids_of_the_same_shape() -> None:
    order_id, event_id = uuid.uuid4(), uuid.uuid4()
    unique = {str(order_id), str(event_id), "ORD-20261127-ABCDEF1234", "capture-key-0123456789"}
    fresh = _fresh_values(unique)
    assert set(fresh) == unique and not set(fresh.values()) & unique
    assert all(len(new) == len(old) for old, new in fresh.items())  # fits the same columns
    params = [order_id, "ORD-20261127-ABCDEF1234", (str(event_id), 3), "capture-key-0123456789"]
    renewed = _renew(params, fresh)
    assert renewed[0] == uuid.UUID(fresh[str(order_id)])
    assert renewed[1] == fresh["ORD-20261127-ABCDEF1234"]
    assert renewed[2] == (fresh[str(event_id)], 3)
    assert renewed[3] == fresh["capture-key-0123456789"]


def test_the_headline_says_which_targets_are_met() -> None:
    from bench.__main__ import headline

    state = {"p50_ms": 300.0, "p99_ms": 450.0}
    report = {"saga": {"completion": {"load": {"rate_target": 100.0, "rate_achieved": 99.5}, "final_state": state,
                                      "p99_met": True},
                       "highest_sustained_rate": 150.0, "sustained_met": False}}
    completion, sustained = headline(report)
    assert completion.endswith("(target p99 < 500 ms: met)")
    assert sustained == "highest sustained saga rate: 150 orders/s (target 300: MISSED)"


def test_server_timing_and_the_layer_budget() -> None:
    from bench.api import layer_budget, parse_server_timing

    timing = parse_server_timing("framework;dur=0.5, auth;dur=1.25, order;dur=3, app;dur=6.0")
    assert timing == {"framework": 0.5, "auth": 1.25, "order": 3.0, "app": 6.0}
    budget = layer_budget([timing | {"client": 10.0}])["layers_ms"]
    assert budget["rest of the app"]["p99"] == 1.25  # 6.0 minus the layers' 4.75
    assert budget["outside the app"]["p99"] == 4.0 and budget["total (client)"]["p50"] == 10.0


def test_round_trips_count_begin_and_commit_per_transaction() -> None:
    from bench.api import Statement, round_trips

    statements = [Statement("SELECT 1", None, None), Statement("INSERT", None, 0), Statement("UPDATE", None, 0),
                  Statement("INSERT", None, 1)]
    assert round_trips(statements) == 4 + 2 * 2
