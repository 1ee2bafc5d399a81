"""The load driver's pure parts: the rate schedule, the product mix, percentiles."""
from __future__ import annotations

import pytest

from orders_site.observability.loadgen import Plan, parse_mix, percentile


def test_a_ramp_goes_linearly_from_rate_to_ramp_to_and_stays_there() -> None:
    plan = Plan("http://x", rate=2, ramp_to=10, duration=8, customers=1, mix={"A": 1})
    assert [plan.rate_at(t) for t in (0, 4, 8, 20)] == [2, 6, 10, 10]
    assert Plan("http://x", 3, None, 8, 1, {"A": 1}).rate_at(5) == 3


def test_the_mix_parses_weights_and_refuses_nonsense() -> None:
    assert parse_mix("KB-001=3, CB-005") == {"KB-001": 3.0, "CB-005": 1.0}
    for bad in ("KB-001=0", "=2", "KB-001=x", ""):
        with pytest.raises(ValueError):
            parse_mix(bad)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 51 and percentile(values, 0.99) == 100
    assert percentile([], 0.5) is None
