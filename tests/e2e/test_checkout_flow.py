"""A checkout through the real HTTP API reaches Kafka as an Avro OrderCreated that other teams can decode."""
from __future__ import annotations

import urllib.request
import json

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from orders_site.eventstore import avro
from orders_site.orders.models import Order
from stack.harness import EmbeddedStack

from .kafka_reader import collect

pytestmark = pytest.mark.e2e


def test_http_checkout_yields_a_decodable_order_created_on_kafka(e2e: EmbeddedStack) -> None:
    # given the web app running as its own process, and a customer with an API token
    e2e.start_web()  # also loads the demo catalog
    user, _ = get_user_model().objects.get_or_create(username="e2e-http")
    token, _ = Token.objects.get_or_create(user=user)
    body = {"items": [{"sku": "KB-001", "quantity": 1}, {"sku": "CB-005", "quantity": 3}], "payment_method": "card"}
    request = urllib.request.Request(
        f"http://{e2e.cfg.web_host}:{e2e.cfg.web_port}/api/orders/", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Token {token.key}", "Content-Type": "application/json",
                 "Idempotency-Key": "e2e-http-1"})
    # when it checks out over HTTP
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        created = json.loads(response.read())
    order = Order.objects.get(pk=created["id"])
    # then an OrderCreated record is on shop.order.events, keyed by the order id, and its payload
    # decodes with the schema in schemas/ to exactly this order
    from orders_site.eventstore.models import StoredEvent
    event = StoredEvent.objects.get(aggregate_id=str(order.pk), event_type="OrderCreated")
    record = collect(e2e.cfg.kafka_bootstrap, "shop.order.events", {str(event.event_id)}, timeout=30).records[
        str(event.event_id)]
    assert record.key == str(order.pk).encode()
    assert record.value[2:10].hex() == avro.latest("OrderCreated").fingerprint_hex
    decoded = avro.decode(record.value, expected_event_type="OrderCreated")
    assert str(decoded.record["order_id"]) == str(order.pk)
    assert decoded.record["order_number"] == order.number == created["number"]
    assert decoded.record["total_minor"] == order.total_minor == 8900 + 3 * 900
    assert [(i["sku"], i["quantity"], i["unit_price_minor"]) for i in decoded.record["items"]] == [
        ("KB-001", 1, 8900), ("CB-005", 3, 900)]
