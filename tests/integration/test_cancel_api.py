"""POST /api/orders/{id}/cancel/: customers cancel until the order ships; paid orders are refunded."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from orders_site.catalog.models import Stock
from orders_site.eventstore.models import StoredEvent
from orders_site.orders.checkout import CheckoutLine, CheckoutRequest, place_order
from orders_site.orders.models import Order
from orders_site.payments.gateway_client import GatewayClient
from orders_site.payments.models import Payment
from orders_site.shipping.tracking import ship

from .saga_steps import prepare, react_to_cancellation, serve_gateway

pytestmark = pytest.mark.usefixtures("catalog")


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayClient]:
    yield from serve_gateway(tmp_path)


@pytest.fixture
def order(alice: APIClient) -> Order:
    return place_order(alice.user.pk, CheckoutRequest((CheckoutLine("MN-003", 2),), "card"))


def events_of(order: Order) -> list[str]:
    return list(StoredEvent.objects.filter(aggregate_id=str(order.pk)).order_by("position")
                .values_list("event_type", flat=True))


def test_no_body_at_all_is_a_cancellation_without_a_reason(alice: APIClient, order: Order) -> None:
    response = alice.post(f"/api/orders/{order.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "CANCELLED"


def test_an_unpaid_order_is_cancelled_by_an_event(alice: APIClient, order: Order) -> None:
    response = alice.post(f"/api/orders/{order.pk}/cancel/", {"reason": "changed my mind"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "CANCELLED"
    assert "changed my mind" in response.json()["status_reason"] and "customer alice" in response.json()["status_reason"]
    assert events_of(order) == ["OrderCreated", "OrderStatusChanged"]


def test_a_paid_order_is_cancelled_refunded_and_its_stock_put_back(alice: APIClient, order: Order,
                                                                   gateway: GatewayClient) -> None:
    payment = prepare(order, gateway)
    assert payment.status == "CAPTURED" and Stock.objects.get(product__sku="MN-003").sold == 2
    response = alice.post(f"/api/orders/{order.pk}/cancel/", {}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "CANCELLED"
    react_to_cancellation(order, gateway)  # the stock and payment services' reactions to the event
    payment.refresh_from_db()
    stock = Stock.objects.get(product__sku="MN-003")
    assert payment.status == Payment.Status.REFUNDED
    assert (stock.on_hand, stock.reserved, stock.sold) == (10, 0, 0)
    assert {"PaymentRefunded", "StockReleased"} <= set(events_of(order))


def test_a_shipped_order_is_refused_with_409_and_the_reason(alice: APIClient, order: Order,
                                                            gateway: GatewayClient) -> None:
    prepare(order, gateway)
    ship(order.pk, carrier="DHL", tracking_number="JD01", staff_username="boss")
    before = events_of(order)
    response = alice.post(f"/api/orders/{order.pk}/cancel/", {}, format="json")
    assert response.status_code == 409
    assert response.json() == {"detail": "the order has shipped: it can no longer be cancelled", "code": "too_late",
                               "status": "SHIPPED"}
    assert events_of(order) == before  # nothing recorded
    delivery = alice.get(f"/api/orders/{order.pk}/").json()["delivery"]
    assert (delivery["status"], delivery["carrier"], delivery["tracking_number"]) == ("SHIPPED", "DHL", "JD01")


def test_another_customers_order_is_404_and_untouched(bob: APIClient, order: Order) -> None:
    assert bob.post(f"/api/orders/{order.pk}/cancel/", {}, format="json").status_code == 404
    assert bob.post(f"/api/orders/{uuid.uuid4()}/cancel/", {}, format="json").status_code == 404
    order.refresh_from_db()
    assert order.status == "ORDERED"


def test_the_idempotency_key_replays_the_first_answer(alice: APIClient, order: Order) -> None:
    first = alice.post(f"/api/orders/{order.pk}/cancel/", {}, format="json", HTTP_IDEMPOTENCY_KEY="c-1")
    again = alice.post(f"/api/orders/{order.pk}/cancel/", {}, format="json", HTTP_IDEMPOTENCY_KEY="c-1")
    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    fresh = alice.post(f"/api/orders/{order.pk}/cancel/", {}, format="json", HTTP_IDEMPOTENCY_KEY="c-2")
    assert fresh.status_code == 409 and fresh.json()["detail"] == "the order is already cancelled"
    reused = alice.post(f"/api/orders/{order.pk}/cancel/", {"reason": "other"}, format="json",
                        HTTP_IDEMPOTENCY_KEY="c-1")
    assert reused.status_code == 422
    assert events_of(order).count("OrderStatusChanged") == 1


def test_bad_input_is_a_4xx_and_changes_nothing(alice: APIClient, order: Order) -> None:
    url = f"/api/orders/{order.pk}/cancel/"
    response = alice.post(url, {"reason": "x" * 201}, format="json")
    assert response.status_code == 400 and "reason" in response.json()
    assert alice.post(url, {"why": "no"}, format="json").json() == {"why": ["Unknown field."]}
    assert alice.post(url, [1], format="json").status_code == 400
    assert alice.post(url, {"reason": 5}, format="json").status_code == 400
    assert alice.post(url, "reason=x", content_type="application/x-www-form-urlencoded").status_code == 415
    assert alice.post(url, "{not json", content_type="application/json").status_code == 400
    assert alice.post(url, {"reason": "bad\u0000byte"}, format="json").status_code == 400
    order.refresh_from_db()
    assert order.status == "ORDERED"


def test_the_endpoint_is_documented_with_every_status(staff: APIClient) -> None:
    schema = staff.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/orders/{order_id}/cancel/"]["post"]
    assert set(operation["responses"]) == {"200", "400", "401", "403", "404", "409", "413", "415", "422"}
    assert any(p["name"] == "Idempotency-Key" for p in operation["parameters"])
