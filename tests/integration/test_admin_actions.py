"""The operator's actions in the admin: each goes through a service, records an event naming the staff
user, shows in History; in the wrong state it says why and changes nothing."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.test import Client

from orders_site.catalog.models import Product, Stock
from orders_site.eventstore.display import decoded_payload
from orders_site.eventstore.models import StoredEvent
from orders_site.notifications.models import Notification
from orders_site.eventstore.cause import Cause
from orders_site.notifications.services import Outcome, notify_outcomes
from orders_site.orders.checkout import CheckoutLine, CheckoutRequest, place_order
from orders_site.orders.models import Order
from orders_site.payments.gateway_client import GatewayClient
from orders_site.payments.models import Payment

from .saga_steps import prepare, serve_gateway

pytestmark = pytest.mark.usefixtures("catalog")


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayClient]:
    yield from serve_gateway(tmp_path)


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-boss-123"))
    return client


@pytest.fixture
def order(alice) -> Order:
    return place_order(alice.user.pk, CheckoutRequest((CheckoutLine("MN-003", 1),), "card"))


def last_event(order: Order, event_type: str) -> dict:
    event = StoredEvent.objects.filter(aggregate_id=str(order.pk), event_type=event_type).latest("position")
    return decoded_payload(event)


def history(obj) -> list[str]:
    return [e.get_change_message() for e in LogEntry.objects.filter(object_id=str(obj.pk)).order_by("pk")]


def act(client: Client, order: Order, slug: str, data: dict | None = None):
    return client.post(f"/admin/orders/order/{order.pk}/act/{slug}/", data or {}, follow=True)


def test_cancel_and_refund_of_a_paid_order(admin_client: Client, order: Order, gateway: GatewayClient) -> None:
    prepare(order, gateway)
    page = admin_client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert "Cancel and refund" in page and "Mark shipped" in page and "Mark delivered" not in page
    response = act(admin_client, order, "cancel-and-refund", {"reason": "customer called"})
    order.refresh_from_db()
    assert order.status == "CANCELLED" and "staff boss" in order.status_reason
    assert last_event(order, "OrderStatusChanged")["reason"] == "customer called (by staff boss)"
    assert "refunded" in response.content.decode()
    assert history(order) == ["Cancel and refund (reason=customer called): now CANCELLED"]


def test_ship_then_deliver_and_the_customer_is_told(admin_client: Client, order: Order, gateway: GatewayClient) -> None:
    prepare(order, gateway)
    assert "carrier" in act(admin_client, order, "ship", {"carrier": "", "tracking_number": ""}).content.decode()
    act(admin_client, order, "ship", {"carrier": "DHL", "tracking_number": "JD014600"})
    order.refresh_from_db()
    assert order.status == "SHIPPED"
    assert last_event(order, "DeliveryShipped")["recorded_by"] == "boss"
    act(admin_client, order, "deliver")
    order.refresh_from_db()
    assert order.status == "DELIVERED" and order.delivery.tracking_number == "JD014600"
    assert last_event(order, "DeliveryDelivered")["recorded_by"] == "boss"
    assert history(order) == ["Mark shipped (carrier=DHL, tracking_number=JD014600): now SHIPPED",
                              "Mark delivered: now DELIVERED"]
    # the notification service reacts to the OrderStatusChanged events (as its consumer would)
    changes = StoredEvent.objects.filter(aggregate_id=str(order.pk), event_type="OrderStatusChanged")
    notify_outcomes([Outcome(order.pk, decoded_payload(e)["to_status"], decoded_payload(e)["reason"] or "",
                             Cause(e.event_id, e.event_type, e.correlation_id)) for e in changes.order_by("position")])
    bodies = dict(Notification.objects.filter(order=order).values_list("kind", "body"))
    assert bodies["ORDER_SHIPPED"] == f"Your order {order.number} has shipped with DHL, tracking number JD014600."
    assert bodies["ORDER_DELIVERED"] == f"Your order {order.number} was delivered. Thank you for shopping with us."


def test_actions_in_the_wrong_state_say_why_and_record_nothing(admin_client: Client, order: Order) -> None:
    before = StoredEvent.objects.count()
    response = act(admin_client, order, "deliver")
    assert "not done" in response.content.decode()
    response = act(admin_client, order, "ship", {"carrier": "DHL", "tracking_number": "X1"})
    assert "not done" in response.content.decode()
    order.refresh_from_db()
    assert order.status == "ORDERED" and StoredEvent.objects.count() == before and history(order) == []


def test_receive_stock(admin_client: Client) -> None:
    product = Product.objects.get(sku="KB-001")
    admin_client.post("/admin/catalog/product/", {"action": "receive", "_selected_action": [product.pk],
                                                  "quantity": "25"})
    stock = Stock.objects.get(product=product)
    assert (stock.initial, stock.on_hand) == (75, 75)
    event = decoded_payload(StoredEvent.objects.get(event_type="StockReceived", aggregate_id="KB-001"))
    assert event == {"sku": "KB-001", "quantity": 25, "on_hand": 75, "recorded_by": "boss"}
    admin_client.post("/admin/catalog/product/", {"action": "receive", "_selected_action": [product.pk],
                                                  "quantity": "-3"})
    assert Stock.objects.get(product=product).on_hand == 75  # refused by the form, nothing recorded


def test_resend_a_notification(admin_client: Client, order: Order, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NOTIFICATIONS_FILE", str(tmp_path / "out.log"))
    [notification] = notify_outcomes([Outcome(order.pk, "CANCELLED", "", Cause.fresh())])
    admin_client.post("/admin/notifications/notification/", {"action": "resend_selected",
                                                             "_selected_action": [notification.pk]})
    assert last_event(order, "NotificationResent")["requested_by"] == "boss"
    assert history(notification) == ["Re-sent"]


def test_retry_is_refused_for_a_captured_payment(admin_client: Client, order: Order, gateway: GatewayClient) -> None:
    payment = prepare(order, gateway)
    response = admin_client.post("/admin/payments/payment/", {"action": "retry", "_selected_action": [payment.pk]},
                                 follow=True)
    assert "nothing to retry" in response.content.decode()
    assert Payment.objects.get(pk=payment.pk).status == "CAPTURED" and history(payment) == []


def test_operator_pages_are_read_only_and_list_every_model(admin_client: Client, order: Order,
                                                           gateway: GatewayClient) -> None:
    prepare(order, gateway)
    payment = Payment.objects.get(order=order)
    for url in (f"/admin/orders/order/{order.pk}/change/", f"/admin/payments/payment/{payment.pk}/change/",
                "/admin/eventstore/storedevent/", "/admin/shipping/delivery/", "/admin/notifications/notification/",
                "/admin/pipeline/redrive/", "/admin/pipeline/invariantrun/"):
        page = admin_client.get(url)
        assert page.status_code == 200, url
        assert 'name="_save"' not in page.content.decode(), url
    assert "after it was recorded, at " in admin_client.get(f"/admin/payments/payment/{payment.pk}/change/").content.decode()
    assert "/admin/pipeline/" in admin_client.get("/admin/").content.decode()
    listing = admin_client.get("/admin/orders/order/", {"q": order.number}).content.decode()
    assert order.number in listing and "249.00 USD" in listing and "CAPTURED" in listing


def test_filters_find_stuck_orders_and_payments_in_doubt(admin_client: Client, alice, gateway: GatewayClient) -> None:
    stuck = place_order(alice.user.pk, CheckoutRequest((CheckoutLine("KB-001", 1),), "card"))
    fresh = place_order(alice.user.pk, CheckoutRequest((CheckoutLine("MS-002", 1),), "card"))
    Order.objects.filter(pk=stuck.pk).update(updated_at=stuck.updated_at.replace(year=2020))
    page = admin_client.get("/admin/orders/order/", {"stuck": "5min"}).content.decode()
    assert stuck.number in page and fresh.number not in page
    paid = place_order(alice.user.pk, CheckoutRequest((CheckoutLine("MN-003", 1),), "card"))
    prepare(paid, gateway)
    Payment.objects.filter(order=paid).update(status="IN_DOUBT")  # as a timeout leaves it
    page = admin_client.get("/admin/orders/order/", {"payment": "IN_DOUBT"}).content.decode()
    assert paid.number in page and stuck.number not in page
