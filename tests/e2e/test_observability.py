"""Observability on the whole stack: metrics and health of the web app and every consumer, one
correlation id from the HTTP request to every consumer's log line, and the example alert rules
evaluated against the real values (quiet when healthy, DeadLettersGrowing when a message is parked)."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid

import pytest
from confluent_kafka import Producer
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from consumers.registry import SERVICE_NAMES as SERVICES
from stack.harness import EmbeddedStack, wait_for
from tests.alerting import Evaluator, Scrape, load_rules

from .saga_helpers import wait_final

pytestmark = pytest.mark.e2e


def get(url: str, headers: dict[str, str] | None = None, body: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def scrape_all(stack: EmbeddedStack) -> Scrape:
    web = f"http://{stack.cfg.web_host}:{stack.cfg.web_port}"
    texts = [get(f"{web}/metrics")[1].decode()]
    texts += [get(f"http://127.0.0.1:{stack.cfg.consumer_port(s)}/metrics")[1].decode() for s in SERVICES]
    return Scrape.parse(time.time(), *texts)


def value(scrape: Scrape, name: str, **labels: str) -> float:
    return sum(v for k, v in scrape.samples.get(name, {}).items() if labels.items() <= dict(k).items())


def test_metrics_health_correlated_logs_and_quiet_alerts_on_a_healthy_stack(saga: EmbeddedStack) -> None:
    # given the whole stack with the web app, and a customer with a token
    if not saga["web"].running:
        saga.start_web()
    web = f"http://{saga.cfg.web_host}:{saga.cfg.web_port}"
    user, _ = get_user_model().objects.get_or_create(username="e2e-observability")
    token, _ = Token.objects.get_or_create(user=user)
    correlation = str(uuid.uuid4())
    # when an order is placed over HTTP with a correlation id and completes
    code, body = get(f"{web}/api/orders/", {"Authorization": f"Token {token.key}", "X-Correlation-ID": correlation},
                     {"items": [{"sku": "KB-001", "quantity": 1}], "payment_method": "card"})
    assert code == 201, body
    order_id = json.loads(body)["id"]
    assert wait_final([uuid.UUID(order_id)])[uuid.UUID(order_id)] == "DELIVERY_PREPARING"

    # then every consumer's log has its event_handled lines for that order under that correlation id,
    # and the payment service logged its gateway call for the order
    def logged() -> bool:
        logs = {name: saga[f"consumer-{name}"].tail(3000).splitlines() for name in SERVICES}
        return all(any("event_handled" in line and f"order_id={order_id}" in line
                       and f"correlation_id={correlation}" in line for line in logs[n]) for n in SERVICES) \
            and any("gateway_call" in line and f"order_id={order_id}" in line for line in logs["payment"])
    wait_for(logged, timeout=30, what="correlated event_handled lines in every consumer's log")

    # then web and consumers are alive and ready
    assert get(f"{web}/healthz")[0] == 200
    code, body = get(f"{web}/readyz")
    assert code == 200, body
    for service in SERVICES:
        port = saga.cfg.consumer_port(service)
        wait_for(lambda: get(f"http://127.0.0.1:{port}/readyz")[0] == 200, timeout=30,
                 what=f"consumer-{service} /readyz")
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200

    # then the metrics tell what happened
    scrape = scrape_all(saga)
    assert value(scrape, "orders_http_requests_total", route="api/orders/", method="POST", status="201") >= 1
    assert value(scrape, "orders_consumer_events_total", consumer="stock", event_type="OrderCreated",
                 outcome="processed") >= 1
    assert value(scrape, "orders_consumer_handle_seconds_count", consumer="payment") >= 1
    assert value(scrape, "orders_orders", state="DELIVERY_PREPARING") >= 1
    assert value(scrape, "orders_checkout_to_final_seconds_count") >= 1
    assert value(scrape, "orders_relay_connector_state", state="RUNNING") == 1
    assert value(scrape, "orders_relay_slot_active") == 1
    assert "orders_consumer_lag" in scrape.samples, sorted(n for n in scrape.samples if "lag" in n)
    assert "orders_consumer_group_lag" in scrape.samples

    # then every metric the alert rules use exists, and none of them fires
    evaluator = Evaluator([scrape])
    for rule in load_rules():
        missing = evaluator.metric_names(rule.expr) - set(scrape.samples)
        assert not missing, f"{rule.alert} reads metrics nobody exports: {missing}"
        assert evaluator.evaluate(rule.expr) == {}, f"{rule.alert} fires on a healthy stack"


def test_dead_letters_growing_fires_when_a_consumer_parks_a_message(saga: EmbeddedStack) -> None:
    # given the stack's metrics now
    if not saga["web"].running:
        saga.start_web()
    before = scrape_all(saga)
    rule = next(r for r in load_rules() if r.alert == "DeadLettersGrowing")
    # when a message nobody can decode arrives on the order topic
    producer = Producer({"bootstrap.servers": saga.cfg.kafka_bootstrap})
    producer.produce("shop.order.events", key=b"poison-metrics", value=b"\x00not avro",
                     headers=[("id", str(uuid.uuid4()).encode()), ("eventType", b"OrderCreated")])
    producer.flush(10)
    # then the stock consumer counts it as dead-lettered and the alert fires for it
    wait_for(lambda: value(scrape_all(saga), "orders_consumer_events_total", consumer="stock",
                           outcome="dead_lettered") > value(before, "orders_consumer_events_total", consumer="stock",
                                                            outcome="dead_lettered"),
             timeout=60, what="the stock consumer's dead_lettered counter to grow")
    fired = Evaluator([before, scrape_all(saga)]).evaluate(rule.expr)
    assert (("consumer", "stock"),) in fired
