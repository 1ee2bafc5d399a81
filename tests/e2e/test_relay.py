"""The relay on the real stack: Postgres WAL -> Debezium (Kafka Connect) -> Apache Kafka.

Given committed outbox rows, then they appear on their Kafka topic byte for byte and in per-aggregate
order; rolled-back ones never do; a SIGKILLed worker or broker loses nothing; a re-snapshot keeps
each aggregate's events in sequence order.
"""
from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import pytest
from django.db import connection, transaction

from orders_site.eventstore.models import StoredEvent
from orders_site.eventstore.store import NewEvent, append_event
from stack import connector
from stack.harness import EmbeddedStack, wait_for

from .kafka_reader import collect, end_offsets, explain, out_of_order

pytestmark = pytest.mark.e2e


def _probe_type() -> str:
    # A topic of its own per test (shop.<aggregate_type>.events), so counts are exact.
    return f"probe{uuid.uuid4().hex[:10]}"


def commit_probe_events(aggregate_type: str, count: int, per_transaction: int = 100,
                        pause: float = 0.0) -> list[str]:
    """Append `count` events with random payloads through append_event, committing in batches."""
    ids: list[str] = []
    correlation = uuid.uuid4()
    batch = uuid.uuid4().hex[:8]  # aggregates of their own, so sequences start at 1 per call
    for start in range(0, count, per_transaction):
        with transaction.atomic():
            for i in range(start, min(start + per_transaction, count)):
                event = append_event(NewEvent(aggregate_type, f"{batch}-{i % 50}", "ProbeRecorded", os.urandom(48),
                                              "0" * 16, correlation), sequence=i // 50 + 1)
                ids.append(str(event.event_id))
        if pause:
            time.sleep(pause)
    return ids


def test_committed_events_arrive_byte_identical_with_key_and_headers(e2e: EmbeddedStack) -> None:
    # given a transaction that writes a business row and its outbox event
    from orders_site.orders.checkout import CheckoutLine, CheckoutRequest, place_order
    from orders_site.catalog.services import receive_product
    from django.contrib.auth import get_user_model

    receive_product(sku="E2E-RELAY", name="Relay probe", price_minor=100, quantity=5)
    user, _ = get_user_model().objects.get_or_create(username="e2e-relay")
    # when it commits
    order = place_order(user.pk, CheckoutRequest((CheckoutLine("E2E-RELAY", 2),), "card"))
    stored = StoredEvent.objects.get(aggregate_type="order", aggregate_id=str(order.pk))
    # then within seconds the event is on shop.order.events, unchanged
    got = collect(e2e.cfg.kafka_bootstrap, "shop.order.events", {str(stored.event_id)}, timeout=30)
    record = got.records[str(stored.event_id)]
    assert record.value == bytes(stored.payload)
    assert record.key == str(order.pk).encode()
    assert record.headers["eventType"] == b"OrderCreated"
    assert record.headers["sequence"] == b"1"
    assert record.headers["correlationId"] == str(stored.correlation_id).encode()


def test_rolled_back_transaction_publishes_nothing(e2e: EmbeddedStack) -> None:
    # given one transaction that appends an event and then fails, and a later one that commits
    kind = _probe_type()
    rolled_back_id = uuid.uuid4()
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            append_event(NewEvent(kind, "agg", "ProbeRecorded", b"never", "0" * 16, uuid.uuid4(),
                                  event_id=rolled_back_id), sequence=1)
            raise RuntimeError("payment declined before commit")
    (committed_id,) = commit_probe_events(kind, 1)
    # when the committed event has arrived (WAL is decoded in commit order, so the relay is past it)
    got = collect(e2e.cfg.kafka_bootstrap, f"shop.{kind}.events", {committed_id}, timeout=30, settle=2)
    # then the rolled-back event never appeared
    assert committed_id in got.counts
    assert str(rolled_back_id) not in got.counts
    assert set(got.counts) == {committed_id}


def test_an_unpublished_event_stays_in_the_store(e2e: EmbeddedStack) -> None:
    # given one aggregate's events 1-3, of which #2 is kept off the published stream, in one transaction
    kind = _probe_type()
    ids = [uuid.uuid4() for _ in range(3)]
    with transaction.atomic():
        for n, event_id in enumerate(ids, start=1):
            append_event(NewEvent(kind, "agg", "ProbeRecorded", os.urandom(16), "0" * 16, uuid.uuid4(),
                                  event_id=event_id, published=n != 2), sequence=n)
    # when the relay has published the last one
    got = collect(e2e.cfg.kafka_bootstrap, f"shop.{kind}.events", {str(ids[2])}, timeout=30, settle=2)
    # then #1 and #3 are on the topic, #3's sequence header skips the unpublished #2, and #2 never appeared
    assert set(got.counts) == {str(ids[0]), str(ids[2])}
    assert got.records[str(ids[2])].headers["sequence"] == b"3"


class Writer(threading.Thread):
    """Commits `batches` x 100 probe events in the background, as fast as the database takes them."""

    def __init__(self, kind: str, batches: int, pause: float = 0.0) -> None:
        super().__init__()
        self.kind, self.batches, self.pause = kind, batches, pause
        self.committed: list[list[str]] = []

    def run(self) -> None:
        from django.db import connection
        try:
            for _ in range(self.batches):
                self.committed.append(commit_probe_events(self.kind, 100))
                if self.pause:
                    time.sleep(self.pause)
        finally:
            connection.close()  # this thread's own connection

    @property
    def ids(self) -> list[str]:
        return [i for batch in self.committed for i in batch]


def test_worker_sigkill_with_a_backlog_built_while_it_is_down_loses_nothing(e2e: EmbeddedStack) -> None:
    # given events being committed while the relay streams them
    kind = _probe_type()
    writer = Writer(kind, 60, pause=0.05)
    writer.start()
    wait_for(lambda: len(writer.committed) >= 10, 60, "the first 1,000 events to be committed")
    # when the Kafka Connect worker is SIGKILLed mid-stream: its launcher notices at once and exits
    (java_pid,) = e2e["relay"].children()
    os.kill(java_pid, signal.SIGKILL)
    committed_at_kill = len(writer.ids)
    e2e["relay"].proc.wait(10)
    # and stays down while the writer goes on (a backlog of thousands), then is started again
    wait_for(lambda: len(writer.ids) >= committed_at_kill + 2000, 60, "a backlog to build while the relay is down")
    backlog = len(writer.ids) - committed_at_kill
    e2e.start_relay()
    writer.join()
    ids = writer.ids
    # then every committed event is on Kafka, in per-aggregate order; duplicates are allowed, losses not
    got = collect(e2e.cfg.kafka_bootstrap, f"shop.{kind}.events", set(ids), timeout=180)
    missing = set(ids) - set(got.counts)
    print(f"\nworker SIGKILL after {committed_at_kill} commits, {backlog} committed while down: {len(ids)} "
          f"committed, {len(got.counts)} distinct received, {got.duplicates} duplicates, {len(missing)} missing")
    assert not missing
    assert backlog >= 2000
    disorder = out_of_order(got.in_order)
    assert disorder == {}, (len(disorder), explain(got.in_order, next(iter(disorder))))


def test_broker_sigkill_under_a_10000_event_backlog_loses_nothing(e2e: EmbeddedStack) -> None:
    # given 10,000 events being committed, a first part already on the broker
    kind = _probe_type()
    topic = f"shop.{kind}.events"
    relay_starts = e2e["relay"].starts
    writer = Writer(kind, 100)
    writer.start()
    wait_for(lambda: len(writer.committed) >= 20, 60, "the first 2,000 events to be committed")
    early = collect(e2e.cfg.kafka_bootstrap, topic, set(writer.committed[0]), timeout=60)
    # when the broker is SIGKILLed (no clean shutdown, unflushed segments) while the writer goes on
    e2e["broker"].kill()
    killed_at = len(writer.ids)
    writer.join()
    e2e.start_broker()
    ids = writer.ids
    assert len(ids) - killed_at > 1000, "a backlog must build while the broker is down"
    # then every event is on the broker, those from before the kill still at their offsets
    got = collect(e2e.cfg.kafka_bootstrap, topic, set(ids), timeout=240)
    missing = set(ids) - set(got.counts)
    print(f"\nbroker SIGKILL after {killed_at} commits: {len(ids)} committed, {len(missing)} missing, "
          f"{got.duplicates} duplicates")
    assert not missing
    for event_id, record in early.records.items():
        assert (got.records[event_id].partition, got.records[event_id].offset) == (record.partition, record.offset)
    assert out_of_order(got.in_order) == {}
    # and the relay rode it out: the same worker, the same group, never restarted
    assert e2e["relay"].running and e2e["relay"].starts == relay_starts


def test_an_operator_resnapshot_publishes_each_aggregate_in_sequence_order(e2e: EmbeddedStack) -> None:
    # given interleaved events of many aggregates, stored in an order unrelated to their position
    # (CLUSTER rewrites the table in event-id order, i.e. at random): a snapshot that reads the
    # table in storage order would publish sequence 3 before sequence 1
    kind = _probe_type()
    topic = f"shop.{kind}.events"
    ids = commit_probe_events(kind, 1000)  # 50 aggregates x 20 sequences, interleaved
    before = collect(e2e.cfg.kafka_bootstrap, topic, set(ids), timeout=60)
    with connection.cursor() as cur:
        cur.execute("CLUSTER event_store USING event_store_event_id_key")
        cur.execute("SELECT count(*) FROM (SELECT aggregate_id, sequence, lag(sequence) OVER (PARTITION BY aggregate_id "
                    "ORDER BY ctid) AS prev FROM event_store WHERE aggregate_type = %s) s WHERE prev > sequence",
                    [kind])
        assert cur.fetchone()[0] > 0, "the table must be out of sequence order on disk for this test to mean anything"
    start = end_offsets(e2e.cfg.kafka_bootstrap, topic)
    # when an operator makes the relay publish the whole event store again
    name = connector.load_definition()["name"]
    connector.resnapshot(e2e.cfg.connect_url, name)
    # then every event is published again, and within the re-published records each aggregate's
    # sequences ascend, as they do over the whole topic
    again = collect(e2e.cfg.kafka_bootstrap, topic, set(ids), timeout=240, start=start)
    assert set(again.counts) == set(ids)
    assert out_of_order(again.in_order) == {}
    assert out_of_order(before.in_order) == {}
