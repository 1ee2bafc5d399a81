"""The append-only event store, which is also the outbox Debezium tails, and the consumers' inbox."""
from __future__ import annotations

import uuid

from django.db import models


class StoredEvent(models.Model):
    """One immutable event. Rows are only inserted: a database trigger rejects UPDATE and DELETE.

    Debezium's EventRouter turns each published row into a Kafka record on `shop.<aggregate_type>.events`,
    keyed by aggregate_id, with `payload` (Avro single-object encoding) as the value, byte for byte.
    """

    position = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    aggregate_type = models.CharField(max_length=40)
    aggregate_id = models.CharField(max_length=64)
    # Per-aggregate, gapless, unique: concurrent writers of one aggregate conflict instead of
    # interleaving, and a consumer can tell a gap or a reordering from a duplicate.
    sequence = models.PositiveIntegerField()
    event_type = models.CharField(max_length=80)
    schema_fingerprint = models.CharField(max_length=16, help_text="CRC-64-AVRO of the writer schema, hex")
    occurred_at = models.DateTimeField()
    correlation_id = models.UUIDField()
    causation_id = models.UUIDField(null=True, blank=True)
    payload = models.BinaryField()
    # Whether the relay publishes the row. The publication's row filter reads it (migration 0003), so
    # an unpublished event never leaves PostgreSQL: it is history, not contract (schemas/README.md,
    # "What is published"). A database default, so a writer that does not say publishes.
    published = models.BooleanField(default=True, db_default=True)

    class Meta:
        db_table = "event_store"
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["aggregate_type", "aggregate_id", "sequence"],
                                    name="event_store_aggregate_sequence_uniq"),
        ]
        indexes = [models.Index(fields=["occurred_at"], name="event_store_occurred_at_idx")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.aggregate_type}/{self.aggregate_id}#{self.sequence}"


class RelayHeartbeat(models.Model):
    """Written by Debezium's heartbeat.action.query so the replication slot advances while the
    event store is quiet (otherwise the slot pins WAL and the disk fills). Never read by the app."""

    id = models.SmallIntegerField(primary_key=True)
    beat_at = models.DateTimeField()

    class Meta:
        db_table = "relay_heartbeat"


class ProcessedEvent(models.Model):
    """A consumer's inbox: inserted in the same transaction as the consumer's effect, so a
    redelivered event hits the unique constraint and is skipped (docs/design.md, "Known failure modes")."""

    consumer = models.CharField(max_length=40)
    event_id = models.UUIDField()
    processed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "processed_event"
        constraints = [models.UniqueConstraint(fields=["consumer", "event_id"], name="processed_event_uniq")]
