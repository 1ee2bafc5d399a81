"""Retention of what only the consumers keep: the inbox (`processed_event`) and sent notifications.

The event store is never pruned (it is the history and the outbox). An inbox row only has to
outlive every possible redelivery of its event: the broker keeps messages for
TOPIC_RETENTION_HOURS, so rows older than INBOX_RETENTION_DAYS (which must be longer) can no longer
meet their event again from a topic. A re-publication or re-snapshot of older events would, which is
why `republish` refuses them (docs/operations.md, "Retention").

Deletes go in small batches, each its own transaction, so the consumers writing the same tables
never wait long on a lock. This module is the only deleter of both tables.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone


class HorizonTooShort(ValueError):
    """The inbox would forget events the broker can still redeliver."""


@dataclass(frozen=True)
class Pruned:
    inbox: int
    notifications: int
    cutoff: datetime


def check_horizon(retention_days: int, topic_retention_hours: int) -> None:
    if retention_days * 24 <= topic_retention_hours:
        raise HorizonTooShort(
            f"ORDERS_INBOX_RETENTION_DAYS={retention_days} is not longer than the topics' retention "
            f"({topic_retention_hours} h): a redelivered event could find its inbox row gone and apply twice")


# Oldest first by primary key: old rows have low ids, so the index scan stops after `batch` matches.
_INBOX = ("DELETE FROM processed_event WHERE id IN (SELECT id FROM processed_event WHERE processed_at < %s "
          "ORDER BY id LIMIT %s)")
_NOTIFICATIONS = ("DELETE FROM notifications WHERE id IN (SELECT id FROM notifications WHERE sent_at < %s "
                  "LIMIT %s)")


def _drain(statement: str, cutoff: datetime, batch: int, pause: float) -> int:
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(statement, [cutoff, batch])
            deleted = cur.rowcount
        total += deleted
        if deleted < batch:
            return total
        time.sleep(pause)  # let the consumers' own transactions through between batches


def prune(*, now: datetime | None = None, retention_days: int | None = None, batch: int = 5000,
          pause: float = 0.05) -> Pruned:
    """Delete inbox rows and notifications older than the horizon. Must not run inside a transaction
    (each batch commits on its own). Raises HorizonTooShort before deleting anything."""
    days = settings.INBOX_RETENTION_DAYS if retention_days is None else retention_days
    check_horizon(days, settings.TOPIC_RETENTION_HOURS)
    cutoff = (now or timezone.now()) - timedelta(days=days)
    return Pruned(_drain(_INBOX, cutoff, batch, pause), _drain(_NOTIFICATIONS, cutoff, batch, pause), cutoff)
