"""Whatever a client sends, the API answers 4xx with a JSON body, never 5xx; and the entry points,
filters and offline docs a new user reaches first."""
from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from orders_site.api.body import MAX_BODY_BYTES
from orders_site.eventstore.models import StoredEvent
from orders_site.orders.models import Order

from .test_checkout_api import GOOD, post

pytestmark = pytest.mark.usefixtures("catalog")


def raw_post(client: APIClient, body: bytes, content_type: str = "application/json", **headers: str):
    return client.generic("POST", "/api/orders/", body, content_type=content_type, headers=headers)


@pytest.mark.parametrize(("body", "content_type", "status"), [
    (b"[" * 5000 + b"]" * 5000, "application/json", 400),                       # nested past the recursion limit
    (json.dumps({"items": [[[[[[[[[1]]]]]]]]], "payment_method": "card"}).encode(), "application/json", 400),
    (b'{"items": "\xff\xfe", "payment_method": "card"}', "application/json", 400),  # not UTF-8
    (b'{"items": [{"sku": "KB-001", "quantity": 1}], "payment_method": "card"}', "application/json; charset=latin-1",
     415),
    (b"items=KB-001", "application/x-www-form-urlencoded", 415),
    (b"not json", "text/plain", 415),
    (b'"a string"', "application/json", 400),                                    # JSON, not an object
    (b"null", "application/json", 400),
    (b'{"items": [{"sku": "KB-001", "quantity": NaN}], "payment_method": "card"}', "application/json", 400),
    (b'{"items": [{"sku": "KB\\u0000", "quantity": 1}], "payment_method": "card"}', "application/json", 400),
    (b'{"items": [{"sku": "KB-001", "quantity": 1}], "payment_method": "card", "shipping_note": "\\ud800"}',
     "application/json", 400),                                                    # a lone surrogate
    (b'{"items": [{"sku": "KB-001", "quantity": 1, "colour": "red"}], "payment_method": "card"}',
     "application/json", 400),
    (b" " * (MAX_BODY_BYTES + 1), "application/json", 413),
])
def test_hostile_bodies_are_4xx_with_json_and_write_nothing(alice: APIClient, body: bytes, content_type: str,
                                                            status: int) -> None:
    response = raw_post(alice, body, content_type, **{"Idempotency-Key": f"k-{uuid.uuid4()}"})
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    response.json()
    assert Order.objects.count() == 0 and StoredEvent.objects.count() == 0


def test_an_escaped_backslash_before_u0000_is_text_not_nul(alice: APIClient) -> None:
    body = json.dumps(GOOD | {"shipping_note": "^[^\\u0000]*$"}).encode()  # the characters \, u, 0, 0, 0, 0
    response = raw_post(alice, body)
    assert response.status_code == 201 and response.json()["shipping_note"] == "^[^\\u0000]*$"


def test_the_size_limit_is_exactly_the_documented_one(alice: APIClient) -> None:
    body = json.dumps(GOOD).encode()
    fits = body + b" " * (MAX_BODY_BYTES - len(body))
    assert raw_post(alice, fits).status_code == 201
    assert raw_post(alice, fits + b" ").status_code == 413


@pytest.mark.parametrize("at", ["2026-02-30T10:00:00Z", "2026-11-27T25:00:00Z",
                                "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-11-27T10:00:00",
                                "\x00", "2026-11-27T10:00:00+99:00"])
def test_impossible_moments_are_a_400_in_the_api_and_a_message_in_the_admin(alice: APIClient, at: str) -> None:
    order_id = post(alice, GOOD).json()["id"]
    response = alice.get(f"/api/orders/{order_id}/history/", {"at": at})
    assert response.status_code == 400 and "at" in response.json()
    admin = Client()
    admin.force_login(type(alice.user).objects.create_superuser("root", "root@example.com", "pw-root-123"))
    if at != "2026-11-27T10:00:00":  # the admin reads a moment without an offset in its own time zone
        page = admin.get(f"/admin/orders/order/{order_id}/state-at/", {"at": at})
        assert page.status_code == 200 and "not a date-time" in page.content.decode()


def test_an_offset_past_postgresqls_and_a_lowercase_rfc3339_moment_are_read(alice: APIClient) -> None:
    order_id = post(alice, GOOD).json()["id"]
    # +16:00 is past what PostgreSQL takes (+-15:59) but a real moment: converted, it is before the order
    assert alice.get(f"/api/orders/{order_id}/history/", {"at": "2000-01-01T16:32:29+16:00"}).status_code == 404
    later = timezone.now() + timezone.timedelta(hours=1)
    for at in (later.astimezone(timezone.get_fixed_timezone(23 * 60 + 59)).isoformat(),
               later.strftime("%Y-%m-%dt%H:%M:%Sz")):
        assert alice.get(f"/api/orders/{order_id}/history/", {"at": at}).json()["status"] == "ORDERED"


def test_not_found_under_api_is_json_and_elsewhere_html(alice: APIClient) -> None:
    for path in ("/api/nowhere/", "/api/orders/not-a-uuid/", f"/api/orders/{uuid.uuid4()}/"):
        response = alice.get(path)
        assert response.status_code == 404 and response.json()["detail"]
    assert "application/json" not in Client().get("/nowhere/")["Content-Type"]


def test_a_server_error_under_api_is_json(alice: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a fault deep in the checkout
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("orders_site.api.checkout.price_order", broken)
    alice.raise_request_exception = False
    response = post(alice, GOOD, **{"Idempotency-Key": "k-500"})
    assert response.status_code == 500 and response.json() == {"detail": "A server error occurred."}
    # and the key was not kept (the fault came before any write): the same key works once the fault is gone
    monkeypatch.undo()
    assert post(alice, GOOD, **{"Idempotency-Key": "k-500"}).status_code == 201


def test_api_root_lists_the_entry_points_without_credentials() -> None:
    body = APIClient().get("/api/").json()
    assert {"products", "orders", "schema", "docs", "redoc"} <= set(body)
    assert body["orders"].endswith("/api/orders/")


def test_orders_filter_by_status_and_number(alice: APIClient) -> None:
    first, second = post(alice, GOOD).json(), post(alice, GOOD).json()
    Order.objects.filter(pk=second["id"]).update(status="CANCELLED")
    ids = lambda **q: [o["id"] for o in alice.get("/api/orders/", q).json()["results"]]  # noqa: E731
    assert ids(status="CANCELLED") == [second["id"]]
    assert ids(status="ORDERED") == [first["id"]]
    assert ids(number=first["number"].lower()) == [first["id"]]
    assert ids(number="ORD-000000-NOTHERE") == []
    assert alice.get("/api/orders/", {"status": "LOST"}).status_code == 400


def test_the_checkout_response_equals_what_the_detail_serializer_says(alice: APIClient) -> None:
    created = post(alice, GOOD | {"shipping_note": "  by the door  "}).json()
    detail = alice.get(f"/api/orders/{created['id']}/").json()
    assert {k: detail[k] for k in created} == created
    assert created["shipping_note"] == "by the door"


def test_docs_and_their_assets_are_served_by_the_app(alice: APIClient, settings) -> None:
    from django.contrib.staticfiles import finders

    for path in ("/api/docs/", "/api/redoc/"):
        page = alice.get(path).content.decode()
        assert "cdn." not in page and "/static/drf_spectacular_sidecar/" in page
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert finders.find("drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js")
