"""The checkout request body, checked by hand: shape and types, with DRF's per-field error format.

The checkout is the hot path (docs/benchmarks.md): a DRF serializer instance deep-copies its fields
on every request and cost more than the rest of validation together. docs.py states the same
rules as JSON Schema for the OpenAPI document; tests hold the two together.
"""
from __future__ import annotations

from typing import Any

from orders_site.orders.checkout import MAX_LINES, MAX_QUANTITY, PAYMENT_METHODS, CheckoutLine, CheckoutRequest

FIELDS = ("items", "payment_method", "shipping_note")
MAX_SKU_LENGTH = 40
MAX_NOTE_LENGTH = 500

Errors = dict[str, Any]


class InvalidCheckout(ValueError):
    def __init__(self, errors: Errors) -> None:
        super().__init__(str(errors))
        self.errors = errors


def _type_name(value: Any) -> str:
    return type(value).__name__


def _string(value: Any, *, max_length: int, allow_blank: bool) -> tuple[str | None, list[str]]:
    if value is None:
        return None, ["This field may not be null."]
    if not isinstance(value, str):
        return None, ["Not a valid string."]
    value = value.strip()
    if not value and not allow_blank:
        return None, ["This field may not be blank."]
    if len(value) > max_length:
        return None, [f"Ensure this field has no more than {max_length} characters."]
    return value, []


def _line(item: Any) -> tuple[CheckoutLine | None, dict[str, list[str]]]:
    if not isinstance(item, dict):
        return None, {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {_type_name(item)}."]}
    errors: dict[str, list[str]] = {k: ["unknown field"] for k in sorted(set(item) - {"sku", "quantity"})}
    sku, quantity = None, None
    if "sku" not in item:
        errors["sku"] = ["This field is required."]
    else:
        sku, problems = _string(item["sku"], max_length=MAX_SKU_LENGTH, allow_blank=False)
        if problems:
            errors["sku"] = problems
    if "quantity" not in item:
        errors["quantity"] = ["This field is required."]
    else:
        quantity = item["quantity"]
        if quantity is None:
            errors["quantity"] = ["This field may not be null."]
        elif isinstance(quantity, bool) or not isinstance(quantity, int):
            errors["quantity"] = ["A valid integer is required."]
        elif quantity < 1:
            errors["quantity"] = ["Ensure this value is greater than or equal to 1."]
        elif quantity > MAX_QUANTITY:
            errors["quantity"] = [f"Ensure this value is less than or equal to {MAX_QUANTITY}."]
    if errors:
        return None, errors
    return CheckoutLine(sku, quantity), {}


def _lines(items: Any) -> tuple[list[CheckoutLine], Any]:
    if not isinstance(items, list):
        return [], [f'Expected a list of items but got type "{_type_name(items)}".']
    if not items:
        return [], ["This list may not be empty."]
    if len(items) > MAX_LINES:
        return [], [f"Ensure this field has no more than {MAX_LINES} elements."]
    lines, errors = [], []
    for item in items:
        line, problems = _line(item)
        errors.append(problems)
        if line is not None:
            lines.append(line)
    if any(errors):
        return [], errors
    seen: set[str] = set()
    for i, line in enumerate(lines):
        if line.sku in seen:
            errors[i] = {"sku": [f"duplicate SKU {line.sku}; merge the quantities"]}
        seen.add(line.sku)
    return lines, errors if any(errors) else None


def parse_checkout(body: Any) -> CheckoutRequest:
    """The CheckoutRequest a JSON body describes. Raises InvalidCheckout with errors per field."""
    if not isinstance(body, dict):
        raise InvalidCheckout({"non_field_errors": [f"Invalid data. Expected a dictionary, but got {_type_name(body)}."]})
    errors: Errors = {k: ["unknown field"] for k in sorted(set(body) - set(FIELDS))}
    if errors:
        raise InvalidCheckout(errors)
    lines: list[CheckoutLine] = []
    if "items" not in body:
        errors["items"] = ["This field is required."]
    else:
        lines, problems = _lines(body["items"])
        if problems:
            errors["items"] = problems
    method = body.get("payment_method")
    if "payment_method" not in body:
        errors["payment_method"] = ["This field is required."]
    elif not isinstance(method, str) or method not in PAYMENT_METHODS:
        errors["payment_method"] = [f'"{method}" is not a valid choice.' if isinstance(method, str)
                                    else "Not a valid choice."]
    note = ""
    if "shipping_note" in body:
        note, problems = _string(body["shipping_note"], max_length=MAX_NOTE_LENGTH, allow_blank=True)
        if problems:
            errors["shipping_note"] = problems
    if errors:
        raise InvalidCheckout(errors)
    return CheckoutRequest(tuple(lines), method, note or "")
