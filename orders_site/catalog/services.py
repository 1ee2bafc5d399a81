"""Writers of catalog data (the demo loader and admin tooling call these, never the ORM directly)."""
from __future__ import annotations

from django.db import transaction

from .models import Product, Stock


def receive_product(*, sku: str, name: str, price_minor: int, quantity: int, currency: str = "USD") -> Product:
    """Create a product with `quantity` units on hand, or return it unchanged if the SKU exists."""
    with transaction.atomic():
        product, created = Product.objects.get_or_create(
            sku=sku, defaults={"name": name, "price_minor": price_minor, "currency": currency})
        if created:
            Stock.objects.create(product=product, initial=quantity, on_hand=quantity)
        return product
