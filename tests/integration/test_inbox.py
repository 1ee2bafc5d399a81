"""The consumers' inbox against PostgreSQL: a claim written with a batch's first events, and what a
claim of an event applied before looks like to the loop."""
from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from django.db import IntegrityError, connection, transaction

from consumers.inbox import claim, claim_along, claimed_before
from orders_site.eventstore.store import NewEvent, append_events

pytestmark = pytest.mark.django_db(transaction=True)


def _event() -> NewEvent:
    return NewEvent("probe", "inbox", "ProbeRecorded", b"x", "0" * 16, uuid.uuid4())


def claimed(consumer: str) -> set[uuid.UUID]:
    with connection.cursor() as cur:
        cur.execute("SELECT event_id FROM processed_event WHERE consumer = %s", [consumer])
        return {row[0] for row in cur.fetchall()}


def test_a_claim_rides_along_the_first_events_and_commits_with_them() -> None:
    ids = [uuid.uuid4(), uuid.uuid4()]
    sent: list[str] = []

    def record(execute, sql, params, many, context):  # noqa: ANN001 - Django's wrapper protocol
        sent.append(sql)
        return execute(sql, params, many, context)

    with transaction.atomic(), connection.execute_wrapper(record):
        with claim_along("probe", ids):
            append_events([_event()])
    assert len(sent) == 1 and "processed_event" in sent[0] and "event_store" in sent[0]
    assert claimed("probe") == set(ids)


def test_a_second_claim_of_an_event_fails_and_says_so_and_leaves_nothing() -> None:
    seen, new = uuid.uuid4(), uuid.uuid4()
    with transaction.atomic():
        claim("probe", [seen])
    with pytest.raises(IntegrityError) as raised:
        with transaction.atomic():
            with claim_along("probe", [new, seen]):
                append_events([_event()])
    assert claimed_before(raised.value)
    assert claimed("probe") == {seen}
    # another consumer's claim of the same event is its own
    with transaction.atomic():
        with claim_along("other", [seen]):
            pass
    assert claimed("other") == {seen}


def test_another_constraint_is_not_a_claim_made_before() -> None:
    twice = replace(_event(), sequence=1)  # an event store constraint: one event per sequence number
    with pytest.raises(IntegrityError) as raised:
        with transaction.atomic():
            with claim_along("probe", [uuid.uuid4()]):
                append_events([twice, twice])
    assert not claimed_before(raised.value)
