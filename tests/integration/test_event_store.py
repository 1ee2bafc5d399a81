"""The event store's guarantees, enforced by PostgreSQL itself."""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from django.db import IntegrityError, connection, transaction

from orders_site.eventstore.models import StoredEvent
from orders_site.eventstore.store import NewEvent, OutsideTransaction, Write, append_event, append_events, fetch_events

pytestmark = pytest.mark.django_db(transaction=True)


def _event(aggregate_id: str = "a-1") -> NewEvent:
    return NewEvent("probe", aggregate_id, "ProbeRecorded", b"\xc3\x01payload", "0" * 16, uuid.uuid4())


def test_append_refuses_to_run_outside_a_transaction() -> None:
    # given no enclosing atomic block, when appending, then it refuses and nothing is written
    with pytest.raises(OutsideTransaction):
        append_event(_event())
    assert StoredEvent.objects.count() == 0


def test_sequences_are_per_aggregate_and_gapless() -> None:
    with transaction.atomic():
        a1, a2, b1 = append_event(_event("a")), append_event(_event("a")), append_event(_event("b"))
    assert (a1.sequence, a2.sequence, b1.sequence) == (1, 2, 1)
    assert [e.sequence for e in fetch_events("probe", "a")] == [1, 2]


def test_two_writers_of_one_sequence_conflict_instead_of_interleaving() -> None:
    with transaction.atomic():
        append_event(_event("x"), sequence=1)
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            append_event(_event("x"), sequence=1)


@pytest.mark.parametrize("statement", ["UPDATE event_store SET event_type = 'Rewritten'", "DELETE FROM event_store"])
def test_rows_can_never_be_updated_or_deleted(statement: str) -> None:
    with transaction.atomic():
        append_event(_event())
    with pytest.raises(IntegrityError, match="append-only"):  # SQLSTATE 23001 restrict_violation
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(statement)
    assert StoredEvent.objects.get().event_type == "ProbeRecorded"


def test_a_rolled_back_transaction_leaves_no_event() -> None:
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            append_event(_event())
            raise RuntimeError("boom")
    assert StoredEvent.objects.count() == 0


def test_a_bulk_append_numbers_each_aggregate_on_from_the_store_in_list_order() -> None:
    def probe(aggregate: str) -> NewEvent:
        return NewEvent("probe", aggregate, "ProbeRecorded", b"x", "0" * 16, uuid.uuid4())

    with transaction.atomic():
        append_event(probe("a"))
        append_events([probe("a"), probe("b"), probe("a"), probe("a")])
    rows = list(StoredEvent.objects.filter(aggregate_type="probe").order_by("position")
                .values_list("aggregate_id", "sequence"))
    assert rows == [("a", 1), ("a", 2), ("b", 1), ("a", 3), ("a", 4)]


def test_an_event_can_be_kept_off_the_published_stream_by_every_append_path() -> None:
    from orders_site.eventstore.store import append_event_row, append_events

    def probe(aggregate: str, published: bool) -> NewEvent:
        return NewEvent("probe", aggregate, "ProbeRecorded", b"x", "0" * 16, uuid.uuid4(), published=published)

    with transaction.atomic():
        append_event(probe("one", False))
        append_event_row(probe("row", False), sequence=1)
        append_events([probe("bulk", True), probe("bulk", False), probe("bulk", True)])
        append_event(_event("default"))
    rows = list(StoredEvent.objects.filter(aggregate_type="probe").order_by("position")
                .values_list("aggregate_id", "sequence", "published"))
    assert rows == [("one", 1, False), ("row", 1, False), ("bulk", 1, True), ("bulk", 2, False),
                    ("bulk", 3, True), ("default", 1, True)]


def test_the_relay_publication_carries_only_published_events() -> None:
    # The relay's publication filters on the column (created by the migrations, not by Debezium),
    # and a writer that does not say anything publishes (the database default).
    with connection.cursor() as cur:
        cur.execute("SELECT tablename, rowfilter FROM pg_publication_tables WHERE pubname = 'orders_outbox' "
                    "ORDER BY tablename")
        tables = dict(cur.fetchall())
        cur.execute("INSERT INTO event_store (event_id, aggregate_type, aggregate_id, sequence, event_type,"
                    " schema_fingerprint, occurred_at, correlation_id, payload) VALUES"
                    " (gen_random_uuid(), 'probe', 'raw', 1, 'ProbeRecorded', '0000000000000000', now(),"
                    " gen_random_uuid(), 'x') RETURNING published")
        assert cur.fetchone()[0] is True
    assert set(tables) == {"event_store", "relay_heartbeat", "debezium_signal"}
    assert tables["event_store"] == "published"
    assert tables["relay_heartbeat"] is None and tables["debezium_signal"] is None


@pytest.fixture
def effect_table() -> Iterator[None]:
    with connection.cursor() as cur:
        cur.execute("CREATE TEMP TABLE probe_effect (id int PRIMARY KEY, note text NOT NULL)")
    yield
    with connection.cursor() as cur:
        cur.execute("DROP TABLE probe_effect")


def _effect(*ids: int) -> Write:
    return Write("INSERT INTO probe_effect (id, note) SELECT i, %s FROM unnest(%b::int[]) AS i", ["done", list(ids)])


def _statements_of(fn: Callable[[], None]) -> list[str]:
    sent: list[str] = []

    def record(execute, sql, params, many, context):  # noqa: ANN001 - Django's wrapper protocol
        sent.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        fn()
    return sent


def test_the_writes_of_a_change_and_its_events_are_one_statement(effect_table: None) -> None:
    # given two writes recording a change (and a None: nothing to write), when appended with the events
    with transaction.atomic():
        sent = _statements_of(lambda: append_events([_event("w"), _event("w")],
                                                    along=[_effect(1, 2), None, _effect(3)]))
    # then one statement wrote the rows and the events, numbered as usual
    assert len(sent) == 1 and sent[0].startswith("WITH effect_0 AS (INSERT INTO probe_effect")
    with connection.cursor() as cur:
        cur.execute("SELECT id FROM probe_effect ORDER BY id")
        assert [r[0] for r in cur.fetchall()] == [1, 2, 3]
    assert [e.sequence for e in fetch_events("probe", "w")] == [1, 2]


def test_writes_without_events_still_run(effect_table: None) -> None:
    with transaction.atomic():
        sent = _statements_of(lambda: append_events([], along=[_effect(7)]))
        nothing = _statements_of(lambda: append_events([], along=[None]))
    assert len(sent) == 1 and nothing == []
    with connection.cursor() as cur:
        cur.execute("SELECT id, note FROM probe_effect")
        assert cur.fetchall() == [(7, "done")]
    assert StoredEvent.objects.count() == 0


def test_a_failing_write_appends_none_of_the_events(effect_table: None) -> None:
    # given a row the write will collide with
    with connection.cursor() as cur:
        cur.execute("INSERT INTO probe_effect VALUES (5, 'before')")
    # when the change's write fails, then its events, though valid, are not appended either
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            append_events([_event("f")], along=[_effect(4, 5)])
    assert StoredEvent.objects.filter(aggregate_id="f").count() == 0
    with connection.cursor() as cur:
        cur.execute("SELECT id FROM probe_effect")
        assert cur.fetchall() == [(5,)]


def test_a_write_rides_along_the_next_append_at_its_depth_or_runs_alone_at_the_end(effect_table: None) -> None:
    from orders_site.eventstore.store import along_next_append

    def writes(statements: list[str]) -> list[str]:  # what touched the tables (no SAVEPOINT...)
        return ["both" if "probe_effect" in q and "event_store" in q else "effect" if "probe_effect" in q
                else "events" for q in statements if "probe_effect" in q or "event_store" in q]

    with transaction.atomic():
        # the next append of the block takes it
        def ride() -> None:
            with along_next_append(_effect(1)):
                append_events([_event("r")])
                append_events([_event("r")])
        # an append inside a savepoint, which its caller could roll back alone, does not take it:
        # it runs alone when its block ends
        def savepoint() -> None:
            with along_next_append(_effect(2)):
                with transaction.atomic():
                    append_events([_event("r")])
        # no append at all: it runs alone when its block ends
        def alone() -> None:
            with along_next_append(_effect(3)):
                pass
        assert [writes(_statements_of(f)) for f in (ride, savepoint, alone)] == [
            ["both", "events"], ["events", "effect"], ["effect"]]
    with connection.cursor() as cur:
        cur.execute("SELECT id FROM probe_effect ORDER BY id")
        assert [r[0] for r in cur.fetchall()] == [1, 2, 3]
    assert [e.sequence for e in fetch_events("probe", "r")] == [1, 2, 3]


def test_a_write_waiting_to_ride_along_is_dropped_with_its_block_on_an_exception(effect_table: None) -> None:
    from orders_site.eventstore.store import along_next_append

    with transaction.atomic():
        with pytest.raises(RuntimeError):
            with along_next_append(_effect(9)):
                raise RuntimeError("the batch failed")
        append_events([_event("d")])  # a later append of the transaction does not take it
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM probe_effect")
        assert cur.fetchone()[0] == 0
