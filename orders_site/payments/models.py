"""Payment attempts. Each is recorded before the gateway is called, so a crash mid-call leaves a row
that reconciliation can resolve (docs/design.md, "Known failure modes"); the database refuses a second capture per order."""
from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q


class Payment(models.Model):
    class Status(models.TextChoices):
        PENDING = "PENDING", "recorded, gateway not answered yet"
        IN_DOUBT = "IN_DOUBT", "timeout / 5xx / lost response: outcome unknown, being reconciled"
        CAPTURED = "CAPTURED"
        DECLINED = "DECLINED"
        REFUNDED = "REFUNDED"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="payments")
    attempt = models.PositiveSmallIntegerField()
    # Deterministic per attempt (order id + attempt): a redelivered event reuses it, so the gateway
    # answers a retry with the first outcome instead of charging again.
    idempotency_key = models.CharField(max_length=80, unique=True)
    method = models.CharField(max_length=32)
    amount_minor = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    gateway_transaction_id = models.CharField(max_length=64, blank=True, default="")
    decline_code = models.CharField(max_length=64, blank=True, default="")
    failure_reason = models.CharField(max_length=300, blank=True, default="")
    refund_reason = models.CharField(max_length=300, blank=True, default="")
    # The saga context the payment's events carry on.
    correlation_id = models.UUIDField()
    cause_event_id = models.UUIDField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "payments"
        ordering = ["order", "attempt"]
        constraints = [
            models.UniqueConstraint(fields=["order", "attempt"], name="payment_attempt_uniq"),
            models.UniqueConstraint(fields=["order"], condition=Q(status__in=["CAPTURED", "REFUNDED"]),
                                    name="payment_one_capture_per_order"),
        ]

    def __str__(self) -> str:
        return f"payment #{self.attempt} of {self.order} ({self.status})"

    def outcome(self) -> str:
        """What happened, in one line: a failure reason only while it is still the story (a payment
        that was in doubt and then captured or refunded is not shown as failed)."""
        if self.status == self.Status.REFUNDED:
            return f"refunded: {self.refund_reason}"
        if self.status == self.Status.CAPTURED:
            return f"captured ({self.gateway_transaction_id})"
        if self.status == self.Status.DECLINED:
            return f"declined: {self.decline_code or self.failure_reason}"
        if self.status == self.Status.IN_DOUBT:
            return f"in doubt: {self.failure_reason}"
        return "waiting for the gateway"
