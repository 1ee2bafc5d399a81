"""monitoring/alerts.yml: every rule is within the evaluated subset of PromQL, names only metrics the
docs list, and fires on the values it is meant for (the e2e test uses real scraped values)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.alerting import Evaluator, Scrape, UnsupportedExpression, load_rules

ROOT = Path(__file__).resolve().parents[2]
RULES = {r.alert: r.expr for r in load_rules()}


def scrape(at: float, text: str) -> Scrape:
    return Scrape.parse(at, text)


def test_every_rule_parses_and_names_documented_metrics() -> None:
    docs = (ROOT / "docs" / "operations.md").read_text()
    healthy = Scrape(0, {})
    for alert, expr in RULES.items():
        Evaluator([healthy]).evaluate(expr)  # raises UnsupportedExpression otherwise
        for name in Evaluator([healthy]).metric_names(expr):
            assert f"`{name}`" in docs, f"{alert} uses {name}, which docs/operations.md does not list"
        assert f"`{alert}`" in docs, f"docs/operations.md has no runbook entry for {alert}"


def test_an_unsupported_expression_is_refused_not_ignored() -> None:
    with pytest.raises(UnsupportedExpression):
        Evaluator([Scrape(0, {})]).evaluate("rate(x[5m]) / on(job) y > 1")


def test_consumer_lag_fires_per_consumer_over_the_threshold() -> None:
    given = scrape(0, 'orders_consumer_group_lag{consumer="stock",topic="shop.order.events",partition="0"} 800\n'
                      'orders_consumer_group_lag{consumer="stock",topic="shop.order.events",partition="1"} 300\n'
                      'orders_consumer_group_lag{consumer="order",topic="shop.stock.events",partition="0"} 999\n')
    fired = Evaluator([given]).evaluate(RULES["ConsumerLagHigh"])
    assert fired == {(("consumer", "stock"),): 1100.0}


def test_dead_letters_growing_needs_growth_within_the_window() -> None:
    line = 'orders_dead_letters{{consumer="payment",topic="shop.dlq.payment"}} {}\n'
    steady = [scrape(0, line.format(3)), scrape(300, line.format(3))]
    growing = [scrape(0, line.format(3)), scrape(300, line.format(4))]
    old_growth = [scrape(0, line.format(1)), scrape(100, line.format(3)), scrape(800, line.format(3))]
    assert Evaluator(steady).evaluate(RULES["DeadLettersGrowing"]) == {}
    assert Evaluator(growing).evaluate(RULES["DeadLettersGrowing"]) == {(("consumer", "payment"),): 1.0}
    assert Evaluator(old_growth).evaluate(RULES["DeadLettersGrowing"]) == {}


@pytest.mark.parametrize(("alert", "metric", "quiet", "firing"), [
    ("OrdersStuck", "orders_open_oldest_age_seconds", 30, 901),
    ("PaymentInDoubtTooLong", "orders_payment_in_doubt_oldest_seconds", 0, 601),
    ("RelayBehindSource", "orders_relay_behind_source_seconds", 0.4, 75),
    ("RelaySlotInactive", 'orders_relay_slot_active{slot="orders_outbox"}', 1, 0),
    ("RelaySlotRetainsWal", 'orders_relay_slot_retained_wal_bytes{slot="orders_outbox"}', 5e6, 2e9),
    ("RelayConnectorNotRunning", 'orders_relay_connector_state{connector="orders-outbox",state="RUNNING"}', 1, 0),
])
def test_single_value_alerts_fire_past_their_threshold_only(alert: str, metric: str, quiet: float,
                                                           firing: float) -> None:
    assert Evaluator([scrape(0, f"{metric} {quiet}\n")]).evaluate(RULES[alert]) == {}
    assert len(Evaluator([scrape(0, f"{metric} {firing}\n")]).evaluate(RULES[alert])) == 1
