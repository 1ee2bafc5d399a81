"""Notifications sent to customers: at most one per order and outcome (a redelivery never re-sends)."""
from __future__ import annotations

import uuid

from django.db import models


class Notification(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="notifications")
    kind = models.CharField(max_length=32)
    channel = models.CharField(max_length=16)
    recipient = models.CharField(max_length=254)
    body = models.TextField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "notifications"
        constraints = [models.UniqueConstraint(fields=["order", "kind"], name="notification_once_per_outcome")]
