"""After the saga: shipped and delivered through the state machine with the customer told at each step,
and a customer's cancellation of a paid order refunded and restocked by the real services."""
from __future__ import annotations

import time

import pytest
from django.db import connection
from rest_framework.test import APIClient

from orders_site.notifications.models import Notification
from orders_site.orders.models import Order
from orders_site.payments.models import Payment
from orders_site.shipping.tracking import mark_delivered, ship
from stack.harness import EmbeddedStack

from .saga_helpers import checkout, new_customer, new_product, stock_of, wait_final

pytestmark = pytest.mark.e2e


def wait_for(predicate, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        connection.close()
        time.sleep(0.2)
    return True


def kinds(order: Order) -> set[str]:
    return set(Notification.objects.filter(order=order).values_list("kind", flat=True))


def test_shipped_then_delivered_and_the_customer_hears_each(saga: EmbeddedStack) -> None:
    order = checkout(new_customer("ship"), new_product(3), 1)
    assert wait_final([order.pk])[order.pk] == "DELIVERY_PREPARING"
    ship(order.pk, carrier="DHL", tracking_number="JD0146", staff_username="operator")
    assert wait_for(lambda: "ORDER_SHIPPED" in kinds(order))
    mark_delivered(order.pk, staff_username="operator")
    assert wait_for(lambda: "ORDER_DELIVERED" in kinds(order))
    order.refresh_from_db()
    assert order.status == "DELIVERED"
    assert kinds(order) == {"ORDER_CONFIRMED", "ORDER_SHIPPED", "ORDER_DELIVERED"}
    shipped = Notification.objects.get(order=order, kind="ORDER_SHIPPED").body
    assert shipped == f"Your order {order.number} has shipped with DHL, tracking number JD0146."
    # cancelling after shipping is refused, and nothing changes
    client = APIClient()
    client.force_authenticate(order.customer)
    response = client.post(f"/api/orders/{order.pk}/cancel/", {}, format="json")
    assert response.status_code == 409 and response.json()["status"] == "DELIVERED"


def test_a_customer_cancels_a_paid_order_and_the_services_refund_and_restock(saga: EmbeddedStack) -> None:
    sku = new_product(4, price=2500)
    order = checkout(new_customer("cancel"), sku, 2)
    assert wait_final([order.pk])[order.pk] == "DELIVERY_PREPARING"
    assert wait_for(lambda: stock_of(sku) == (4, 2, 0, 2))  # sold
    client = APIClient()
    client.force_authenticate(order.customer)
    response = client.post(f"/api/orders/{order.pk}/cancel/", {"reason": "too slow"}, format="json",
                           HTTP_IDEMPOTENCY_KEY="cancel-1")
    assert response.status_code == 200 and response.json()["status"] == "CANCELLED"
    assert wait_for(lambda: Payment.objects.get(order=order).status == "REFUNDED")
    assert wait_for(lambda: stock_of(sku) == (4, 4, 0, 0))  # back on the shelf
    assert wait_for(lambda: "ORDER_CANCELLED" in kinds(order))
