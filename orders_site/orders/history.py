"""Reading an order's past: its events, and its state at any moment, replayed from the event store."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timezone as dt_timezone, tzinfo
from itertools import groupby

from django.utils.dateparse import parse_datetime

from orders_site.eventstore.models import StoredEvent
from orders_site.eventstore.store import fetch_events

from . import projection


def parse_moment(raw: str, *, assume: tzinfo | None = None) -> datetime | None:
    """An ISO-8601 moment in UTC, or None when `raw` is not one a database can hold.

    Catches what parse_datetime lets through and PostgreSQL refuses: impossible dates (February 30,
    hour 25; parse_datetime raises ValueError), UTC offsets past +-15:59 (converted to UTC here) and
    moments that leave the calendar once converted (year 1 at +01:00). A moment without an offset is
    None unless `assume` says which zone it is in.
    """
    try:
        at = parse_datetime(raw.strip().upper())  # RFC 3339 allows a lowercase t and z
    except ValueError:
        return None
    if at is None:
        return None
    if at.tzinfo is None:
        if assume is None:
            return None
        at = at.replace(tzinfo=assume)
    try:
        return at.astimezone(dt_timezone.utc)
    except (OverflowError, ValueError):
        return None


def fetch_state_at(order_id: uuid.UUID, at: datetime) -> projection.OrderState | None:
    """The order as it was at `at` (None if it did not exist yet)."""
    return projection.replay(fetch_events("order", str(order_id), until=at))


def fetch_timeline(order_id: uuid.UUID) -> list[StoredEvent]:
    """Every event about the order, from every service (they all use the order id as aggregate id)."""
    return list(StoredEvent.objects.filter(aggregate_id=str(order_id)).order_by("occurred_at", "position"))


def replay_all(chunk_size: int = 2000) -> Iterator[projection.OrderState]:
    """Every order's current state, folded from the event store in one streaming pass."""
    events = (StoredEvent.objects.filter(aggregate_type="order").order_by("aggregate_id", "sequence")
              .iterator(chunk_size=chunk_size))
    for _aggregate_id, group in groupby(events, key=lambda e: e.aggregate_id):
        state = projection.replay(group)
        if state is not None:
            yield state
