"""The hand-written checkout body check (orders_site/api/checkout_input.py) and the schema hook's
additions (orders_site/api/schema.py): pure logic, no database."""
from __future__ import annotations

import pytest

from orders_site.api.body import _depth_exceeds, _holds_nul
from orders_site.api.checkout_input import InvalidCheckout, parse_checkout
from orders_site.api.schema import add_common_responses
from orders_site.orders.checkout import CheckoutLine, CheckoutRequest


def errors_of(body: object) -> dict:
    with pytest.raises(InvalidCheckout) as caught:
        parse_checkout(body)
    return caught.value.errors


def test_a_good_body_becomes_a_checkout_request_with_trimmed_strings() -> None:
    body = {"items": [{"sku": " KB-001 ", "quantity": 2}], "payment_method": "card", "shipping_note": " door "}
    assert parse_checkout(body) == CheckoutRequest((CheckoutLine("KB-001", 2),), "card", "door")


@pytest.mark.parametrize(("body", "expected"), [
    ([1], {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
    ({"items": [{"sku": "A", "quantity": 1}], "payment_method": "card", "x": 1}, {"x": ["unknown field"]}),
    ({"payment_method": "card"}, {"items": ["This field is required."]}),
    ({"items": [], "payment_method": "card"}, {"items": ["This list may not be empty."]}),
    ({"items": [{"sku": "A", "quantity": True}], "payment_method": "card"},
     {"items": [{"quantity": ["A valid integer is required."]}]}),
    ({"items": [{"sku": "A", "quantity": 1}, {"sku": "A", "quantity": 2}], "payment_method": "card"},
     {"items": [{}, {"sku": ["duplicate SKU A; merge the quantities"]}]}),
    ({"items": [{"sku": "A", "quantity": 1, "colour": "red"}], "payment_method": "card"},
     {"items": [{"colour": ["unknown field"]}]}),
    ({"items": [{"sku": "A", "quantity": 1}], "payment_method": "bitcoin"},
     {"payment_method": ['"bitcoin" is not a valid choice.']}),
    ({"items": [{"sku": "A", "quantity": 1}], "payment_method": 7}, {"payment_method": ["Not a valid choice."]}),
])
def test_bad_bodies_get_drf_shaped_errors_per_field(body: object, expected: dict) -> None:
    assert errors_of(body) == expected


def test_depth_and_nul_are_found_without_recursion() -> None:
    deep: list = []
    for _ in range(100_000):  # far past Python's recursion limit
        deep = [deep]
    assert _depth_exceeds(deep, 8) and not _depth_exceeds({"a": [{"b": 1}]}, 3)
    assert _holds_nul({"k": ["ok", {"x\x00": 1}]}) and not _holds_nul({"k": ["\\u0000"]})


def test_the_hook_adds_auth_404_location_and_links_to_any_new_endpoint() -> None:
    # given a schema with a create operation and a new action under the created resource
    secured = [{"tokenAuth": []}, {"cookieAuth": []}]
    schema = {"paths": {
        "/api/orders/": {"post": {"operationId": "orders_create", "security": secured, "requestBody": {},
                                  "responses": {"201": {"content": {"application/json": {
                                      "schema": {"$ref": "#/components/schemas/Order"}}}}}}},
        "/api/orders/{order_id}/cancel/": {"post": {"operationId": "orders_cancel", "security": secured,
                                                    "responses": {"200": {}}}},
    }, "components": {"schemas": {"Order": {"properties": {"id": {}}}}}}
    # when the hook runs
    result = add_common_responses(schema)
    create = result["paths"]["/api/orders/"]["post"]
    cancel = result["paths"]["/api/orders/{order_id}/cancel/"]["post"]
    # then the new action has 401, 403 and 404, the 201 a Location header, and a link leads to the action
    assert {"401", "403", "404"} <= set(cancel["responses"])
    assert "Location" in create["responses"]["201"]["headers"] and create["requestBody"]["required"]
    assert list(create["responses"]["201"]["links"].values()) == [
        {"operationId": "orders_cancel", "parameters": {"order_id": "$response.body#/id"}}]
