"""Deliveries: one per paid order."""
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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "deliveries"
