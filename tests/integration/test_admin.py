"""Staff look-up in Django admin: search, filters, timeline, state-at, and the cancel action."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from orders_site.eventstore.models import StoredEvent
from orders_site.orders.checkout import CheckoutLine, CheckoutRequest, place_order
from orders_site.orders.models import Order

pytestmark = pytest.mark.usefixtures("catalog")


@pytest.fixture
def admin_client(db) -> Client:
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-boss-123")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def order(alice) -> Order:
    return place_order(alice.user.pk, CheckoutRequest((CheckoutLine("MN-003", 1),), "card", "fragile"))


def test_orders_are_searchable_by_number_and_customer(admin_client: Client, order: Order) -> None:
    for query in (order.number, "alice"):
        page = admin_client.get("/admin/orders/order/", {"q": query})
        assert page.status_code == 200 and order.number in page.content.decode()
    assert order.number not in admin_client.get("/admin/orders/order/", {"q": "nobody"}).content.decode()
    filtered = admin_client.get("/admin/orders/order/", {"status__exact": "CANCELLED"})
    assert order.number not in filtered.content.decode()


def test_change_page_shows_items_and_decoded_timeline_read_only(admin_client: Client, order: Order) -> None:
    page = admin_client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    event = StoredEvent.objects.get(aggregate_id=str(order.pk))
    assert "OrderCreated" in page and str(event.correlation_id) in page
    assert "shipping_note: fragile" in page  # decoded Avro
    assert 'name="status"' not in page  # no editable status field


def test_state_at_view_replays_events(admin_client: Client, order: Order) -> None:
    page = admin_client.get(f"/admin/orders/order/{order.pk}/state-at/", {"at": "2000-01-01T00:00:00Z"})
    assert "did not exist yet" in page.content.decode()
    page = admin_client.get(f"/admin/orders/order/{order.pk}/state-at/")
    assert "ORDERED" in page.content.decode()
    assert "not a date-time" in admin_client.get(f"/admin/orders/order/{order.pk}/state-at/",
                                                 {"at": "soon"}).content.decode()


def test_cancel_action_uses_the_service_and_records_an_event(admin_client: Client, order: Order) -> None:
    admin_client.post("/admin/orders/order/", {"action": "cancel_selected", "_selected_action": [str(order.pk)]})
    order.refresh_from_db()
    assert order.status == "CANCELLED" and "by staff boss" in order.status_reason
    assert list(StoredEvent.objects.filter(aggregate_id=str(order.pk)).values_list("event_type", flat=True)) == [
        "OrderCreated", "OrderStatusChanged"]


def test_orders_cannot_be_added_or_deleted_in_admin(admin_client: Client, order: Order) -> None:
    assert admin_client.get("/admin/orders/order/add/").status_code == 403
    assert admin_client.get(f"/admin/orders/order/{order.pk}/delete/").status_code == 403
