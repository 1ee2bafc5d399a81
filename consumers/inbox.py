"""The consumers' inbox: which events a consumer has applied (table processed_event)."""
from __future__ import annotations

import uuid

from django.db import connection


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
            [consumer, list(dict.fromkeys(event_ids))])
        return {row[0] for row in cur.fetchall()}
