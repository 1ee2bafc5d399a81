"""Goods in: an operator puts received units on the shelf."""
from __future__ import annotations

import uuid

from django.db import transaction
from django.db.models import F

from orders_site.eventstore.store import record_event

from .models import Stock

MAX_RECEIPT = 100_000  # a typo guard, not a business rule


class BadReceipt(ValueError):
    """The quantity is not a positive whole number within reason."""


def receive_stock(sku: str, quantity: int, *, staff_username: str) -> Stock:
    """Add `quantity` units on hand (and to `initial`, so on_hand + sold == initial still holds) ->
    StockReceived. Opens its own transaction and locks the product's stock row.

    Raises BadReceipt for a quantity outside 1..100,000 and Stock.DoesNotExist for an unknown SKU.
    """
    if not isinstance(quantity, int) or not 0 < quantity <= MAX_RECEIPT:
        raise BadReceipt(f"received quantity must be between 1 and {MAX_RECEIPT}, not {quantity!r}")
    with transaction.atomic():
        stock = Stock.objects.select_for_update().select_related("product").get(product__sku=sku)
        Stock.objects.filter(pk=stock.pk).update(on_hand=F("on_hand") + quantity, initial=F("initial") + quantity)
        stock.refresh_from_db()
        record_event("StockReceived", sku, {"sku": sku, "quantity": quantity, "on_hand": stock.on_hand,
                                            "recorded_by": staff_username}, correlation_id=uuid.uuid4())
        return stock
