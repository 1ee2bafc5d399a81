"""Deliveries: one per paid order, PREPARING -> SHIPPED (carrier, tracking number) -> DELIVERED."""
from __future__ import annotations

import uuid

from django.db import models


class Delivery(models.Model):
    class Status(models.TextChoices):
        PREPARING = "PREPARING"
        SHIPPED = "SHIPPED"
        DELIVERED = "DELIVERED"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.OneToOneField("orders.Order", on_delete=models.PROTECT, related_name="delivery")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PREPARING)
    carrier = models.CharField(max_length=60, blank=True, default="")
    tracking_number = models.CharField(max_length=80, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "deliveries"
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"delivery of {self.order} ({self.status})"
