"""Placing an order: validate, then write the order, its items and OrderCreated in one transaction.

No network call and no stock lock here: holding stock is the stock service's job, driven by the
OrderCreated event, so a checkout never waits on another service and never blocks another checkout.
"""
from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from orders_site.catalog.models import Product
from orders_site.eventstore.store import record_event_row

from . import projection
from .models import Order

MAX_LINES = 50
MAX_QUANTITY = 1000
PAYMENT_METHODS = ("card", "bank_transfer", "wallet")
_NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I/L/O/U to misread


@dataclass(frozen=True)
class CheckoutLine:
    sku: str
    quantity: int


@dataclass(frozen=True)
class CheckoutRequest:
    lines: tuple[CheckoutLine, ...]
    payment_method: str
    shipping_note: str = ""


@dataclass
class CheckoutError(Exception):
    """The request cannot become an order; `errors` maps field paths to messages (API: 400)."""

    errors: dict[str, list[str]] = field(default_factory=dict)

    def __str__(self) -> str:
        return "; ".join(f"{k}: {', '.join(v)}" for k, v in self.errors.items())


def check_checkout(request: CheckoutRequest) -> None:
    """Validate what can be validated without the database; raises CheckoutError."""
    errors: dict[str, list[str]] = {}
    if not request.lines:
        errors["items"] = ["at least one item is required"]
    elif len(request.lines) > MAX_LINES:
        errors["items"] = [f"at most {MAX_LINES} different items per order"]
    seen: set[str] = set()
    for i, line in enumerate(request.lines):
        if not (1 <= line.quantity <= MAX_QUANTITY):
            errors.setdefault(f"items[{i}].quantity", []).append(f"must be between 1 and {MAX_QUANTITY}")
        if line.sku in seen:
            errors.setdefault(f"items[{i}].sku", []).append(f"duplicate SKU {line.sku}; merge the quantities")
        seen.add(line.sku)
    if request.payment_method not in PAYMENT_METHODS:
        errors["payment_method"] = [f"must be one of {', '.join(PAYMENT_METHODS)}"]
    if errors:
        raise CheckoutError(errors)


def new_order_number() -> str:
    stamp = timezone.now().strftime("%y%m%d")
    bits = int.from_bytes(secrets.token_bytes(5))  # 40 random bits = 8 base32 digits, one call
    return f"ORD-{stamp}-" + "".join(_NUMBER_ALPHABET[(bits >> (5 * i)) & 31] for i in range(8))


_PRICES = f"SELECT sku, name, price_minor, currency FROM {Product._meta.db_table} WHERE active AND sku = ANY(%s)"


def price_order(customer_id: int, request: CheckoutRequest) -> dict[str, Any]:
    """The OrderCreated record for `request`, priced from the catalog as it is now.

    Reads only (one query; no transaction needed: no lock is taken, and inside one READ COMMITTED
    would see the same rows). Raises CheckoutError for invalid input and unknown or inactive SKUs.
    """
    check_checkout(request)
    skus = [line.sku for line in request.lines]
    with connection.cursor() as cursor:  # plain SQL: the ORM's query building cost more than the query
        cursor.execute(_PRICES, [skus])
        products = {sku: (name, price, currency) for sku, name, price, currency in cursor.fetchall()}
    unknown = {f"items[{i}].sku": [f"unknown SKU {line.sku}"]
               for i, line in enumerate(request.lines) if line.sku not in products}
    if unknown:
        raise CheckoutError(unknown)
    currencies = {products[s][2] for s in skus}
    if len(currencies) != 1:
        raise CheckoutError({"items": ["items priced in different currencies cannot share an order"]})
    items = [{"sku": line.sku, "product_name": products[line.sku][0], "quantity": line.quantity,
              "unit_price_minor": products[line.sku][1]} for line in request.lines]
    return {
        "order_id": str(uuid.uuid4()), "order_number": new_order_number(), "customer_id": str(customer_id),
        "items": items, "total_minor": sum(i["quantity"] * i["unit_price_minor"] for i in items),
        "currency": currencies.pop(), "payment_method": request.payment_method,
        "shipping_note": request.shipping_note or None, "created_at": timezone.now(),
    }


def created_state(record: dict[str, Any]) -> projection.OrderState:
    """The state a priced order will have once recorded. Pure: the API builds (and stores) its 201
    from it before anything is written."""
    return projection.apply(None, "OrderCreated", record, sequence=1, occurred_at=record["created_at"])


def record_order(record: dict[str, Any], *, correlation_id: uuid.UUID | None = None,
                 state: projection.OrderState | None = None) -> projection.OrderState:
    """Append OrderCreated for a priced order and write its rows: one event, one projection write.

    Opens its own transaction, or joins the caller's without a savepoint (an error here fails the
    caller's transaction too, which is what its caller wants: the API claims its Idempotency-Key
    and stores the response in the same transaction). `state`: created_state(record), when the
    caller has it already.
    """
    state = state or created_state(record)
    with transaction.atomic(savepoint=False):
        record_event_row("OrderCreated", record["order_id"], record, sequence=1,
                         correlation_id=correlation_id or uuid.uuid4(), occurred_at=record["created_at"])
        projection.insert_rows(state)
    return state


def place_order(customer_id: int, request: CheckoutRequest, *, correlation_id: uuid.UUID | None = None) -> Order:
    """Create an ORDERED order with its items and its OrderCreated event, atomically.

    Opens its own transaction (callers may already be in one). Raises CheckoutError for unknown or
    inactive SKUs and invalid input; nothing is written then.
    """
    return projection.as_order(record_order(price_order(customer_id, request), correlation_id=correlation_id))
