"""The pipeline dashboard is staff-only, refreshes itself and shows what it knows when parts are away."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from orders_site.orders.checkout import CheckoutLine, CheckoutRequest, place_order
from orders_site.orders.models import Order
from orders_site.pipeline.models import InvariantRun, Redrive
from stack.harness import free_port

pytestmark = pytest.mark.usefixtures("catalog")
# Nothing listens there: the broker and Kafka Connect are "down" for these tests.
AWAY = override_settings(KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
                         KAFKA_CONNECT_URL=f"http://127.0.0.1:{free_port()}", PIPELINE_STATUS_TIMEOUT=1.0)


@pytest.fixture
def operator(db) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-boss-123"))
    return client


def test_customers_are_sent_to_the_login_page(alice) -> None:
    client = Client()
    client.force_login(alice.user)
    response = client.get("/admin/pipeline/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert client.post("/admin/pipeline/check/").status_code == 302
    assert not InvariantRun.objects.exists()


@AWAY
def test_the_dashboard_names_what_is_away_and_lists_stuck_orders(operator: Client, alice) -> None:
    order = place_order(alice.user.pk, CheckoutRequest((CheckoutLine("KB-001", 1),), "card"))
    Order.objects.filter(pk=order.pk).update(updated_at=order.updated_at.replace(year=2020))  # long in progress
    page = operator.get("/admin/pipeline/").content.decode()
    assert 'http-equiv="refresh"' in page
    assert "UNREACHABLE" in page and "broker unreachable" in page
    assert "no such replication slot" in page
    assert order.number in page and f"/admin/orders/order/{order.pk}/change/" in page


@AWAY
def test_the_invariant_check_runs_from_the_dashboard_and_its_verdict_is_kept(operator: Client) -> None:
    operator.post("/admin/pipeline/check/")
    run = InvariantRun.objects.get()
    assert run.requested_by == "boss" and not run.ok  # the broker is away: the check cannot pass
    page = operator.get("/admin/pipeline/").content.decode()
    assert "FAILED" in page and "by boss" in page


@AWAY
def test_a_redrive_of_an_unknown_service_or_bad_offset_is_refused(operator: Client) -> None:
    assert operator.post("/admin/pipeline/dlq/nobody/redrive/", {"partition": 0, "offset": 0}).status_code == 404
    response = operator.post("/admin/pipeline/dlq/stock/redrive/", {"partition": "x"}, follow=True)
    assert "whole numbers" in response.content.decode()
    response = operator.post("/admin/pipeline/dlq/stock/redrive/", {"partition": 0, "offset": 3}, follow=True)
    assert "did not answer" in response.content.decode()  # the broker is away: said, not a 500
    assert not Redrive.objects.exists()
