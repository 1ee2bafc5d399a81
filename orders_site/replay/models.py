"""Debezium's signalling table: a row inserted here is read by the relay from the WAL and acted upon
(connect/outbox-connector.json, `signal.data.collection`). Its three columns are Debezium's format."""
from __future__ import annotations

from django.db import models


class RelaySignal(models.Model):
    id = models.CharField(max_length=42, primary_key=True)
    type = models.CharField(max_length=32)
    data = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "debezium_signal"
