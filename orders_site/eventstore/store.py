"""Appending to and reading from the event store. The only writer of `event_store` rows."""
from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Max
from django.utils import timezone

from orders_site.dbbackend import arrays

from .cause import Cause
from .models import StoredEvent


class OutsideTransaction(RuntimeError):
    """append_event was called without an enclosing transaction.atomic() block."""


@dataclass(frozen=True)
class NewEvent:
    """An event ready to be stored: its Avro-encoded payload and the fingerprint of its schema."""

    aggregate_type: str
    aggregate_id: str
    event_type: str
    payload: bytes
    schema_fingerprint: str
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None = None
    event_id: uuid.UUID | None = None
    occurred_at: datetime | None = None
    # The aggregate's next version when the writer tracks it (holds the aggregate's row locked);
    # None: read from the store at append time.
    sequence: int | None = None
    # False: kept in the store, never relayed to Kafka (models.StoredEvent.published).
    published: bool = True


@dataclass(frozen=True)
class Write:
    """A batch's effect as one data-modifying statement (INSERT or UPDATE, no RETURNING, no trailing
    semicolon), handed to append_events to run in the same statement as the batch's events."""

    sql: str
    params: list[Any]


class _Riders(threading.local):
    """Writes waiting for the next append_events of their transaction (see along_next_append)."""

    def __init__(self) -> None:
        self.waiting: list[tuple[Write, int]] = []  # each with the atomic depth it was registered at


_riders = _Riders()


@contextmanager
def along_next_append(write: Write) -> Iterator[None]:
    """Within the block, the next append_events of this transaction (at this atomic depth, not in a
    savepoint a caller could roll back alone) runs `write` in its statement; if none does, `write`
    runs alone when the block ends. For a write that must commit with a batch's effects but need
    not precede them: the consumers' inbox claim (consumers/inbox.py), one round trip less per batch.
    Requires: a transaction. On an exception nothing more is run."""
    _require_transaction()
    entry = (write, len(connection.atomic_blocks))
    _riders.waiting.append(entry)
    try:
        yield
    except BaseException:
        _take(entry)
        raise
    if _take(entry):
        append_events([], along=[write])


def _take(entry: tuple[Write, int]) -> bool:
    """Remove `entry` from the waiting writes; whether it was still there."""
    for n, waiting in enumerate(_riders.waiting):
        if waiting is entry:
            del _riders.waiting[n]
            return True
    return False


def _riders_here() -> list[Write]:
    depth = len(connection.atomic_blocks)
    here = [entry for entry in _riders.waiting if entry[1] == depth]
    for entry in here:
        _take(entry)
    return [write for write, _ in here]


def _require_transaction() -> None:
    # Outside atomic() every statement autocommits: the business row could commit and the event
    # not (or the other way round), which is exactly what the outbox exists to rule out.
    if not connection.in_atomic_block:
        raise OutsideTransaction("events must be appended inside transaction.atomic(), "
                                 "together with the state change they record")


def next_sequence(aggregate_type: str, aggregate_id: str) -> int:
    current = (StoredEvent.objects.filter(aggregate_type=aggregate_type, aggregate_id=aggregate_id)
               .aggregate(m=Max("sequence"))["m"])
    return (current or 0) + 1


def append_event(event: NewEvent, *, sequence: int | None = None) -> StoredEvent:
    """Append one event in the caller's transaction.

    Requires: an enclosing transaction.atomic(). `sequence` is the aggregate's next version when the
    caller tracks it (e.g. holds the aggregate row locked); otherwise it is read from the store. Two
    writers that pick the same sequence collide on the unique constraint (IntegrityError), by design.
    """
    _require_transaction()
    if sequence is None:
        sequence = event.sequence or next_sequence(event.aggregate_type, event.aggregate_id)
    return StoredEvent.objects.create(
        event_id=event.event_id or uuid.uuid4(),
        aggregate_type=event.aggregate_type,
        aggregate_id=event.aggregate_id,
        sequence=sequence,
        event_type=event.event_type,
        schema_fingerprint=event.schema_fingerprint,
        occurred_at=event.occurred_at or timezone.now(),
        correlation_id=event.correlation_id,
        causation_id=event.causation_id,
        payload=event.payload,
        published=event.published,
    )


def fetch_events(aggregate_type: str, aggregate_id: str, *, until: datetime | None = None) -> list[StoredEvent]:
    """An aggregate's events in sequence order, optionally only those that occurred up to `until`."""
    qs = StoredEvent.objects.filter(aggregate_type=aggregate_type, aggregate_id=aggregate_id)
    if until is not None:
        qs = qs.filter(occurred_at__lte=until)
    return list(qs.order_by("sequence"))


def append_events(events: list[NewEvent], *, along: Sequence[Write | None] = ()) -> None:
    """Append many events in one statement, in list order. Requires: an enclosing transaction.atomic().

    Events without a sequence get their aggregate's next ones, counted on from the highest stored
    one in list order, so the sequences stay gapless per aggregate. As with
    append_event, two writers that pick the same sequence collide on the unique constraint.

    `along`: the writes that record the same change (a None is skipped), run as WITH clauses of the
    same statement, so the effect and its events cost one round trip. A consumer's round trip costs
    it ~0.2 ms of CPU whatever the statement does (docs/benchmarks.md, "Saga, sixth pass"). The writes
    must not touch `event_store`: the parts of one statement see one snapshot, in no set order.
    """
    _require_transaction()
    writes = [*_riders_here(), *(w for w in along if w is not None)]
    if not events and not writes:
        return
    prefix = ""
    params: list[Any] = []
    if writes:
        prefix = "WITH " + ", ".join(f"effect_{n} AS ({w.sql})" for n, w in enumerate(writes)) + " "
        params = [p for w in writes for p in w.params]
    with connection.cursor() as cur:
        if not events:  # the writes alone: a CTE runs to completion even if nothing reads it
            cur.execute(prefix + "SELECT 1", params)
            return
        now = timezone.now()
        rows = [(e.event_id or uuid.uuid4(), e.aggregate_type, e.aggregate_id, e.sequence, e.event_type,
                 e.schema_fingerprint, e.occurred_at or now, e.correlation_id, e.causation_id, e.payload, e.published)
                for e in events]
        # One round trip: an event without a sequence takes its aggregate's highest stored one plus
        # its rank among this list's events of that aggregate. Positions are handed out in list order
        # (the relay publishes in position order).
        # The arrays go in binary (%b): psycopg builds a text array element by element in Python,
        # which cost ~50 us per event here, 5x the binary form (docs/benchmarks.md, "Saga, third pass").
        cur.execute(
            prefix
            + "INSERT INTO event_store (event_id, aggregate_type, aggregate_id, sequence, event_type,"
            " schema_fingerprint, occurred_at, correlation_id, causation_id, payload, published)"
            " SELECT u.event_id, u.agg_type, u.agg_id,"
            "  COALESCE(u.seq, COALESCE((SELECT max(s.sequence) FROM event_store s"
            "    WHERE s.aggregate_type = u.agg_type AND s.aggregate_id = u.agg_id), 0)"
            "   + count(*) FILTER (WHERE u.seq IS NULL) OVER (PARTITION BY u.agg_type, u.agg_id ORDER BY u.n)),"
            "  u.event_type, u.fingerprint, u.occurred_at, u.correlation_id, u.causation_id, u.payload, u.published"
            " FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::int[], %b::text[], %b::text[],"
            "  %b::timestamptz[], %b::uuid[], %b::uuid[], %b::bytea[], %b::boolean[]) WITH ORDINALITY"
            "  AS u(event_id, agg_type, agg_id, seq, event_type, fingerprint, occurred_at, correlation_id,"
            "   causation_id, payload, published, n)"
            " ORDER BY u.n",
            params + [typed(column) for typed, column in zip(_EVENT_COLUMNS, zip(*rows))])


# The event insert's arrays, in its column order, typed (orders_site/dbbackend/arrays.py).
_EVENT_COLUMNS = (arrays.uuids, arrays.texts, arrays.texts, arrays.ints, arrays.texts, arrays.texts,
                  arrays.timestamptzs, arrays.uuids, arrays.uuids, arrays.byteas, arrays.bools)

__all__ = ["NewEvent", "OutsideTransaction", "Write", "along_next_append", "append_event", "append_event_row", "append_events", "fetch_events",
           "new_caused_event", "new_event", "record_event_row",
           "next_sequence", "record_event"]


def record_event(event_type: str, aggregate_id: str, record: dict, *, correlation_id: uuid.UUID,
                 causation_id: uuid.UUID | None = None, sequence: int | None = None,
                 occurred_at: datetime | None = None) -> StoredEvent:
    """Encode `record` with the event type's current Avro schema and append it.

    Requires: an enclosing transaction.atomic(). Raises avro.SchemaError when the record does not
    match its schema, before anything is written.
    """
    return append_event(new_event(event_type, aggregate_id, record, correlation_id=correlation_id,
                                  causation_id=causation_id, occurred_at=occurred_at), sequence=sequence)


def new_event(event_type: str, aggregate_id: str, record: dict, *, correlation_id: uuid.UUID,
              causation_id: uuid.UUID | None = None, sequence: int | None = None,
              occurred_at: datetime | None = None, published: bool = True) -> NewEvent:
    """`record` encoded with the event type's current Avro schema, ready for append_event(s).

    Raises avro.SchemaError when the record does not match its schema.
    """
    from . import avro  # local: keeps this module importable by tools that only read events

    encoded = avro.encode(event_type, record)
    return NewEvent(aggregate_type=avro.aggregate_of(event_type), aggregate_id=aggregate_id, event_type=event_type,
                    payload=encoded.payload, schema_fingerprint=encoded.fingerprint, correlation_id=correlation_id,
                    causation_id=causation_id, occurred_at=occurred_at, sequence=sequence, published=published)


def new_caused_event(event_type: str, aggregate_id: str, record: dict, cause: Cause, *,
                     sequence: int | None = None, occurred_at: datetime | None = None,
                     published: bool = True) -> NewEvent:
    """new_event with correlation and causation taken from `cause`."""
    return new_event(event_type, aggregate_id, record, correlation_id=cause.correlation_id,
                     causation_id=cause.event_id, sequence=sequence, occurred_at=occurred_at, published=published)


_INSERT_EVENT = (
    "INSERT INTO event_store (event_id, aggregate_type, aggregate_id, sequence, event_type, schema_fingerprint, "
    "occurred_at, correlation_id, causation_id, payload, published) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "RETURNING position")


def append_event_row(event: NewEvent, *, sequence: int) -> int:
    """append_event without a model instance: one INSERT, returns the event's position.

    For hot paths that know the sequence (a new aggregate's first event). Same contract as
    append_event: requires an enclosing transaction.atomic(); a taken sequence is an IntegrityError.
    """
    _require_transaction()
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_EVENT, [
            event.event_id or uuid.uuid4(), event.aggregate_type, event.aggregate_id, sequence, event.event_type,
            event.schema_fingerprint, event.occurred_at or timezone.now(), event.correlation_id,
            event.causation_id, event.payload, event.published])
        return cursor.fetchone()[0]


def record_event_row(event_type: str, aggregate_id: str, record: dict, *, sequence: int,
                     correlation_id: uuid.UUID, causation_id: uuid.UUID | None = None,
                     occurred_at: datetime | None = None) -> int:
    """record_event through append_event_row: encode `record` with its current Avro schema, append it
    in one INSERT and return its position. Requires an enclosing transaction.atomic()."""
    return append_event_row(new_event(event_type, aggregate_id, record, correlation_id=correlation_id,
                                      causation_id=causation_id, occurred_at=occurred_at), sequence=sequence)
