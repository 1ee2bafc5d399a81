"""The web app's observability against real PostgreSQL: correlation ids end up on the events they
caused, /metrics counts requests and reads the business state, /healthz and /readyz answer."""
from __future__ import annotations

import io
import json
import sys
import uuid

import pytest
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from orders_site.eventstore.models import StoredEvent
from orders_site.observability import logs
from stack.harness import free_port

pytestmark = pytest.mark.usefixtures("catalog")
GOOD = {"items": [{"sku": "KB-001", "quantity": 1}], "payment_method": "card"}


def checkout(client: APIClient, **headers: str):
    return client.post("/api/orders/", json.dumps(GOOD), content_type="application/json", headers=headers)


def samples(client: APIClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.content.decode()) for s in family.samples}


def test_a_given_correlation_id_is_echoed_and_stamped_on_the_event(alice: APIClient) -> None:
    given = uuid.uuid4()
    response = checkout(alice, **{"X-Correlation-ID": str(given)})
    assert response.status_code == 201
    assert response["X-Correlation-ID"] == str(given)
    assert StoredEvent.objects.get(aggregate_id=response.json()["id"]).correlation_id == given


@pytest.mark.parametrize("bad", ["not-a-uuid", "x" * 5000, "'; DROP TABLE orders; --"])
def test_a_bad_correlation_id_is_replaced_not_refused(alice: APIClient, bad: str) -> None:
    response = checkout(alice, **{"X-Correlation-ID": bad})
    assert response.status_code == 201
    minted = uuid.UUID(response["X-Correlation-ID"])
    assert StoredEvent.objects.get(aggregate_id=response.json()["id"]).correlation_id == minted


def test_without_a_correlation_id_one_is_minted_for_each_request(alice: APIClient) -> None:
    first, second = checkout(alice), checkout(alice)
    ids = {uuid.UUID(r["X-Correlation-ID"]) for r in (first, second)}
    assert len(ids) == 2
    stored = {StoredEvent.objects.get(aggregate_id=r.json()["id"]).correlation_id for r in (first, second)}
    assert stored == ids


def test_the_checkout_log_line_carries_correlation_and_order_id(alice: APIClient, monkeypatch) -> None:
    given = uuid.uuid4()
    written = io.StringIO()
    monkeypatch.setattr(sys, "stderr", written)
    logs.configure(process="web", json=True)
    try:
        response = checkout(alice, **{"X-Correlation-ID": str(given)})
    finally:
        monkeypatch.undo()
        logs.configure()
    lines = [json.loads(line) for line in written.getvalue().splitlines()]
    checkouts = [line for line in lines if line["event"] == "checkout"]
    assert len(checkouts) == 1
    assert checkouts[0]["correlation_id"] == str(given)
    assert checkouts[0]["order_id"] == response.json()["id"]
    assert checkouts[0]["outcome"] == "placed" and checkouts[0]["process"] == "web"
    assert any(line["event"] == "request" and line["status"] == 201 for line in lines)


@override_settings(METRICS_PIPELINE=False)  # the relay and broker are not part of this layer
def test_metrics_count_requests_by_route_template_and_read_orders_by_state(alice: APIClient) -> None:
    before = samples(alice)
    order = checkout(alice).json()
    alice.get(f"/api/orders/{order['id']}/")
    alice.post("/api/orders/", "{", content_type="application/json")
    after = samples(alice)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("orders_http_requests_total", method="POST", route="api/orders/", status="201") == 1
    assert grew("orders_http_requests_total", method="POST", route="api/orders/", status="400") == 1
    assert grew("orders_http_requests_total", method="GET", route="api/orders/<uuid:order_id>/", status="200") == 1
    assert grew("orders_http_request_duration_seconds_count", method="POST", route="api/orders/") == 2
    assert grew("orders_checkouts_total", outcome="placed") == 1
    assert after[("orders_orders", (("state", "ORDERED"),))] >= 1
    assert ("orders_checkout_to_final_seconds_count", ()) in after
    assert after[("orders_payments_in_doubt", ())] == 0


def test_healthz_is_alive_and_readyz_names_what_is_unreachable(alice: APIClient) -> None:
    assert alice.get("/healthz").json() == {"status": "alive"}
    dead = f"127.0.0.1:{free_port()}"
    with override_settings(KAFKA_BOOTSTRAP_SERVERS=dead, KAFKA_CONNECT_URL=f"http://{dead}"):
        response = alice.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker", "connector"]
    assert body["checks"]["database"] == {"ok": True}
