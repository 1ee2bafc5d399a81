"""Orders and their items: a projection of the order's events (see projection.py).

Only orders/projection.py writes these rows, inside the same transaction that appends the event,
and `manage.py rebuild_orders` can recreate them from the event store at any time.
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from .status import OrderStatus


class Order(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField(max_length=24, unique=True)
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=24, choices=[(s.value, s.value) for s in OrderStatus],
                              default=OrderStatus.ORDERED, db_index=True)
    total_minor = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    payment_method = models.CharField(max_length=32)
    shipping_note = models.CharField(max_length=500, blank=True, default="")
    status_reason = models.CharField(max_length=500, blank=True, default="")
    # The sequence of the last event applied: the next event of this order must be version + 1.
    version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "orders"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.number


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    sku = models.CharField(max_length=40)
    product_name = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField()
    unit_price_minor = models.PositiveBigIntegerField(help_text="price captured at checkout")

    class Meta:
        db_table = "order_items"
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["order", "sku"], name="order_item_sku_uniq")]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku}"

    @property
    def line_total_minor(self) -> int:
        return self.quantity * self.unit_price_minor
