"""Products and their stock. Stock can never go negative: the database enforces it, not just code."""
from __future__ import annotations

from django.db import models
from django.db.models import F, Q


class Product(models.Model):
    sku = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    price_minor = models.PositiveBigIntegerField(help_text="price in minor units (cents)")
    currency = models.CharField(max_length=3, default="USD")
    active = models.BooleanField(default=True)

    class Meta:
        db_table = "products"
        ordering = ["sku"]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class Stock(models.Model):
    """Units physically here (`on_hand`), of which `reserved` are held for unpaid orders.

    available = on_hand - reserved. A sale lowers both; a release lowers `reserved` only.
    `initial` is what was ever received, so on_hand + sold == initial can be checked.
    """

    product = models.OneToOneField(Product, on_delete=models.PROTECT, primary_key=True, related_name="stock")
    initial = models.PositiveIntegerField(default=0)
    on_hand = models.IntegerField(default=0)
    reserved = models.IntegerField(default=0)
    sold = models.IntegerField(default=0)

    class Meta:
        db_table = "stocks"
        constraints = [
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="stock_on_hand_not_negative"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="stock_reserved_not_negative"),
            models.CheckConstraint(condition=Q(sold__gte=0), name="stock_sold_not_negative"),
            models.CheckConstraint(condition=Q(reserved__lte=F("on_hand")), name="stock_reserved_within_on_hand"),
        ]

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Reservation(models.Model):
    """What the stock service decided for one order: lines held, then sold or released (or rejected)."""

    class Status(models.TextChoices):
        HELD = "HELD"
        SOLD = "SOLD"
        RELEASED = "RELEASED"
        REJECTED = "REJECTED"

    order_id = models.UUIDField(primary_key=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    lines = models.JSONField(help_text='[{"sku": ..., "quantity": ...}]')
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "stock_reservations"
