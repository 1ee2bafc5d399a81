"""Checkout API against real PostgreSQL: validation, happy path, visibility, history, OpenAPI."""
from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from orders_site.eventstore.models import StoredEvent
from orders_site.orders.checkout import MAX_LINES, MAX_QUANTITY
from orders_site.orders.models import Order
from orders_site.orders.status import OrderStatus
from orders_site.orders.transitions import Cause, change_status

pytestmark = pytest.mark.usefixtures("catalog")
GOOD = {"items": [{"sku": "KB-001", "quantity": 2}, {"sku": "MS-002", "quantity": 1}], "payment_method": "card"}


def post(client: APIClient, body: object, **headers: str):
    raw = body if isinstance(body, str) else json.dumps(body)
    return client.post("/api/orders/", raw, content_type="application/json", headers=headers)


def test_checkout_creates_the_order_its_items_and_one_event(alice: APIClient) -> None:
    response = post(alice, GOOD | {"shipping_note": "leave at the door"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "ORDERED"
    assert body["total_minor"] == 2 * 8900 + 2900
    assert response["Location"] == f"/api/orders/{body['id']}/"
    order = Order.objects.get(pk=body["id"])
    assert [(i.sku, i.quantity, i.unit_price_minor) for i in order.items.all()] == [("KB-001", 2, 8900), ("MS-002", 1, 2900)]
    events = StoredEvent.objects.filter(aggregate_id=body["id"])
    assert [(e.event_type, e.sequence) for e in events] == [("OrderCreated", 1)]


@pytest.mark.parametrize(("body", "field"), [
    ({"items": [], "payment_method": "card"}, "items"),
    ({"items": [{"sku": f"S{i}", "quantity": 1} for i in range(MAX_LINES + 1)], "payment_method": "card"}, "items"),
    ({"items": [{"sku": "NOPE", "quantity": 1}], "payment_method": "card"}, "items"),
    ({"items": [{"sku": "KB-001", "quantity": 0}], "payment_method": "card"}, "items"),
    ({"items": [{"sku": "KB-001", "quantity": -3}], "payment_method": "card"}, "items"),
    ({"items": [{"sku": "KB-001", "quantity": MAX_QUANTITY + 1}], "payment_method": "card"}, "items"),
    ({"items": [{"sku": "KB-001", "quantity": 10**30}], "payment_method": "card"}, "items"),
    ({"items": [{"sku": "KB-001", "quantity": "2"}], "payment_method": "card"}, "items"),
    ({"items": [{"sku": "KB-001", "quantity": 2.5}], "payment_method": "card"}, "items"),
    ({"items": [{"sku": "KB-001", "quantity": True}], "payment_method": "card"}, "items"),
    ({"items": [{"sku": "KB-001"}], "payment_method": "card"}, "items"),
    ({"items": [{"sku": "KB-001", "quantity": 1}, {"sku": "KB-001", "quantity": 2}], "payment_method": "card"}, "items"),
    ({"items": "KB-001", "payment_method": "card"}, "items"),
    ({"items": ["KB-001"], "payment_method": "card"}, "items"),
    ({"items": [{"sku": None, "quantity": 1}], "payment_method": "card"}, "items"),
    ({"items": [{"sku": "KB-001", "quantity": 1}]}, "payment_method"),
    ({"items": [{"sku": "KB-001", "quantity": 1}], "payment_method": "bitcoin"}, "payment_method"),
    ({"items": [{"sku": "KB-001", "quantity": 1}], "payment_method": "card", "shipping_note": "x" * 501}, "shipping_note"),
    ({"items": [{"sku": "KB-001", "quantity": 1}], "payment_method": "card", "discount": 100}, "discount"),
    ([1, 2, 3], "non_field_errors"),
])
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(alice: APIClient, body: object, field: str) -> None:
    response = post(alice, body)
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert Order.objects.count() == 0 and StoredEvent.objects.count() == 0


@pytest.mark.parametrize("raw", ['{"items": [', "not json", ""])
def test_malformed_json_is_a_400(alice: APIClient, raw: str) -> None:
    assert post(alice, raw).status_code == 400


def test_unknown_sku_error_points_at_the_line(alice: APIClient) -> None:
    response = post(alice, {"items": [{"sku": "KB-001", "quantity": 1}, {"sku": "NOPE", "quantity": 1}],
                            "payment_method": "card"})
    assert response.status_code == 400
    assert response.json()["items"][1]["sku"] == ["unknown SKU NOPE"]


def test_unauthenticated_requests_are_refused() -> None:
    assert post(APIClient(), GOOD).status_code in (401, 403)
    assert APIClient().get("/api/products/").status_code in (401, 403)


def test_products_show_available_stock(alice: APIClient) -> None:
    products = {p["sku"]: p for p in alice.get("/api/products/").json()}
    assert products["MN-003"] == {"sku": "MN-003", "name": "Monitor", "price_minor": 24900, "currency": "USD",
                                  "available": 10}


def test_another_customers_order_is_404_and_staff_see_all(alice: APIClient, bob: APIClient, staff: APIClient) -> None:
    order_id = post(alice, GOOD).json()["id"]
    assert alice.get(f"/api/orders/{order_id}/").status_code == 200
    assert bob.get(f"/api/orders/{order_id}/").status_code == 404
    assert bob.get(f"/api/orders/{order_id}/history/?at={timezone.now().isoformat()}").status_code == 404
    assert staff.get(f"/api/orders/{order_id}/").status_code == 200
    assert [o["id"] for o in bob.get("/api/orders/").json()["results"]] == []
    assert order_id in [o["id"] for o in staff.get("/api/orders/").json()["results"]]
    assert alice.get(f"/api/orders/{uuid.uuid4()}/").status_code == 404


def test_detail_shows_items_and_decoded_event_history(alice: APIClient) -> None:
    order_id = post(alice, GOOD).json()["id"]
    body = alice.get(f"/api/orders/{order_id}/").json()
    assert [i["sku"] for i in body["items"]] == ["KB-001", "MS-002"]
    (event,) = body["events"]
    assert event["event_type"] == "OrderCreated" and event["sequence"] == 1
    assert event["data"]["order_number"] == body["number"]
    assert event["data"]["items"][0] == {"sku": "KB-001", "product_name": "Keyboard", "quantity": 2,
                                         "unit_price_minor": 8900}
    assert body["payment"] is None and body["delivery"] is None


def test_correlation_id_header_is_carried_into_the_event(alice: APIClient) -> None:
    correlation = uuid.uuid4()
    order_id = post(alice, GOOD, **{"X-Correlation-ID": str(correlation)}).json()["id"]
    assert StoredEvent.objects.get(aggregate_id=order_id).correlation_id == correlation


def test_state_at_a_past_moment_is_replayed_from_events(alice: APIClient) -> None:
    # given an order that later moved to STOCK_HELD
    order_id = post(alice, GOOD).json()["id"]
    between = timezone.now()
    with transaction.atomic():
        change_status(uuid.UUID(order_id), OrderStatus.STOCK_HELD,
                      cause=Cause(event_id=uuid.uuid4(), event_type="StockHeld", correlation_id=uuid.uuid4()))
    url = f"/api/orders/{order_id}/history/"
    # then the state before the change is ORDERED, after it STOCK_HELD, and before creation: nothing
    assert alice.get(url, {"at": between.isoformat()}).json()["status"] == "ORDERED"
    now = alice.get(url, {"at": timezone.now().isoformat()}).json()
    assert (now["status"], now["version"]) == ("STOCK_HELD", 2)
    assert alice.get(url, {"at": (between - timedelta(hours=1)).isoformat()}).status_code == 404
    assert alice.get(url, {"at": "yesterday"}).status_code == 400
    assert alice.get(url).status_code == 400


def test_openapi_schema_documents_the_api(alice: APIClient) -> None:
    response = alice.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert {"/api/orders/", "/api/orders/{order_id}/", "/api/products/"} <= set(schema["paths"])
    params = {p["name"] for p in schema["paths"]["/api/orders/"]["post"]["parameters"]}
    assert "Idempotency-Key" in params
