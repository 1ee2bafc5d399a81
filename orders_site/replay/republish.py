"""Re-publishing stored events through the relay, not around it.

An incremental snapshot, requested with a Debezium signal (a row in `debezium_signal`), makes the
relay read the selected event-store rows again and route them exactly like live ones: same topic,
key, headers and payload bytes. Debezium reads a snapshot in primary-key chunks, and the key is
`position`, so each aggregate's events are re-sent in sequence order (docs/design.md, "Per-aggregate
order on the topics"). Consumers treat them as redeliveries: the inbox turns those they applied into
no-ops, and one that missed them catches up.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from orders_site.eventstore.models import StoredEvent

from .models import RelaySignal

EVENT_STORE = "public.event_store"
SIGNAL_TABLE = "public.debezium_signal"  # connect/outbox-connector.json, signal.data.collection
PUBLICATION = "orders_outbox"  # connect/outbox-connector.json, publication.name


class RepublishRefused(ValueError):
    """The selection is empty, malformed, or reaches past what the consumers' inbox remembers."""


@dataclass(frozen=True)
class Selection:
    """One order's events, or every event that occurred in [since, until)."""

    order_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None

    def check(self) -> None:
        if (self.order_id is None) == (self.since is None and self.until is None):
            raise RepublishRefused("give either an order id, or --since (and optionally --until)")
        if self.order_id is None and self.since is None:
            raise RepublishRefused("--until needs --since")
        for moment in (self.since, self.until):
            if moment is not None and moment.tzinfo is None:
                raise RepublishRefused("times need a time zone, e.g. 2026-11-27T10:00:00Z")
        if self.since and self.until and self.until <= self.since:
            raise RepublishRefused("--until must be after --since")

    def condition(self) -> str:
        """The SQL filter Debezium adds to its snapshot query. Built from a parsed UUID and
        datetimes only, so nothing a user typed reaches it verbatim."""
        # An incremental snapshot reads the table itself, past the publication's row filter: the
        # condition repeats it, so unpublished events stay unpublished.
        if self.order_id is not None:
            return f"published AND aggregate_id = '{self.order_id}'"
        parts = ["published", f"occurred_at >= '{self.since.isoformat()}'"]
        if self.until is not None:
            parts.append(f"occurred_at < '{self.until.isoformat()}'")
        return " AND ".join(parts)

    def events(self):
        qs = StoredEvent.objects.filter(published=True)
        if self.order_id is not None:
            return qs.filter(aggregate_id=str(self.order_id))
        qs = qs.filter(occurred_at__gte=self.since)
        return qs.filter(occurred_at__lt=self.until) if self.until else qs


def retention_horizon() -> timedelta:
    return timedelta(days=settings.INBOX_RETENTION_DAYS)


@dataclass(frozen=True)
class Requested:
    signal_id: str
    events: int
    condition: str


def signal_data(selection: Selection) -> dict[str, object]:
    return {"type": "incremental", "data-collections": [EVENT_STORE],
            "additional-conditions": [{"data-collection": EVENT_STORE, "filter": selection.condition()}]}


def request_republish(selection: Selection, *, beyond_retention: bool = False) -> Requested:
    """Ask the relay to publish the selected events again; returns at once (the relay works
    asynchronously, in chunks).

    Opens its own transaction. Refuses an empty selection, and one with events older than the inbox
    retention (their redelivery would not be recognised as such) unless `beyond_retention`.
    """
    selection.check()
    events = selection.events()
    count = events.count()
    if count == 0:
        raise RepublishRefused("no stored event matches")
    oldest = events.order_by("occurred_at").values_list("occurred_at", flat=True).first()
    if not beyond_retention and oldest < timezone.now() - retention_horizon():
        raise RepublishRefused(
            f"the selection reaches back to {oldest:%Y-%m-%d %H:%M}, past the inbox retention of "
            f"{settings.INBOX_RETENTION_DAYS} days: consumers would apply those events again "
            "(docs/operations.md, \"Replaying\")")
    signal_id = str(uuid.uuid4())
    with transaction.atomic():
        ensure_signal_table_published()
        RelaySignal.objects.create(id=signal_id, type="execute-snapshot", data=json.dumps(signal_data(selection)))
    return Requested(signal_id, count, selection.condition())


def ensure_signal_table_published() -> None:
    """A publication created before the signal table existed does not carry it, and the relay would
    never see the signal: add it (idempotent). Requires: the publication's owner (the relay's user)."""
    with connection.cursor() as cur:
        cur.execute("SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = %s), "
                    "EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = %s "
                    "AND schemaname = 'public' AND tablename = 'debezium_signal')", [PUBLICATION, PUBLICATION])
        exists, carries = cur.fetchone()
        if not exists:
            raise RepublishRefused(f"publication {PUBLICATION} does not exist: run `python manage.py migrate`")
        if not carries:
            cur.execute(f"ALTER PUBLICATION {PUBLICATION} ADD TABLE {SIGNAL_TABLE}")
