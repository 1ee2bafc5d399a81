"""The consumers' inbox: which events a consumer has applied (table processed_event)."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import IntegrityError, connection

from orders_site.dbbackend import arrays
from orders_site.eventstore.store import Write, along_next_append

# The unique constraint that makes a second claim of one event by one consumer fail
# (eventstore/migrations/0001_initial.py).
CLAIM_CONSTRAINT = "processed_event_uniq"


def claim(consumer: str, event_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Record the events as applied by `consumer`, in one statement; returns those not recorded
    before (the rest were applied already: skip them). Requires: the transaction of the effect, so
    a claim exists exactly when its effect does."""
    if not event_ids:
        return set()
    with connection.cursor() as cur:  # %b: the array in binary, as in eventstore.store.append_events
        cur.execute(
            "INSERT INTO processed_event (consumer, event_id, processed_at)"
            " SELECT %s, e, now() FROM unnest(%b::uuid[]) AS e"
            " ON CONFLICT (consumer, event_id) DO NOTHING RETURNING event_id",
            [consumer, arrays.uuids(dict.fromkeys(event_ids))])
        return {row[0] for row in cur.fetchall()}


@contextmanager
def claim_along(consumer: str, event_ids: list[uuid.UUID]) -> Iterator[None]:
    """Claim the events in the statement that writes the block's first events (or alone when the
    block ends): one round trip less than claim() before the effects. The events must be distinct.
    Requires: the transaction of the effect. If any of them was claimed before (a redelivery, or
    another member of the group applying it at the same moment) the claim fails on its unique
    constraint, and the whole transaction must be rolled back: see claimed_before()."""
    with along_next_append(Write(
            "INSERT INTO processed_event (consumer, event_id, processed_at)"
            " SELECT %s, e, now() FROM unnest(%b::uuid[]) AS e", [consumer, arrays.uuids(event_ids)])):
        yield


def claimed_before(err: BaseException) -> bool:
    """Whether `err` is claim_along's claim meeting an event claimed before."""
    cause = err.__cause__
    diag = getattr(cause, "diag", None)
    return isinstance(err, IntegrityError) and getattr(diag, "constraint_name", None) == CLAIM_CONSTRAINT
