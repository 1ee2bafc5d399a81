"""Re-drives of dead letters: the dead-letter topic is append-only, so what was sent back is kept here."""
from __future__ import annotations

from django.db import models


class Redrive(models.Model):
    topic = models.CharField(max_length=200)
    partition = models.PositiveIntegerField()
    offset = models.PositiveBigIntegerField()
    outcome = models.CharField(max_length=300, help_text="sent to <topic>, or why it stayed")
    requested_by = models.CharField(max_length=150)
    redriven_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "pipeline_redrives"
        ordering = ["-redriven_at"]
        indexes = [models.Index(fields=["topic", "partition", "offset"], name="redrive_message_idx")]


class InvariantRun(models.Model):
    """One run of the invariant checker from the dashboard: when, the verdict, what it said."""

    ran_at = models.DateTimeField(auto_now_add=True)
    ok = models.BooleanField()
    report = models.TextField()
    requested_by = models.CharField(max_length=150)

    class Meta:
        db_table = "pipeline_invariant_runs"
        ordering = ["-ran_at"]
