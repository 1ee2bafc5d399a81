"""The relay on the real stack: Postgres WAL -> Debezium (Kafka Connect) -> Tansu.

Given committed outbox rows, then they appear on their Kafka topic byte for byte; rolled-back ones
never do; a SIGKILLed worker or a restarted (memory-only) broker loses nothing.
"""
from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import pytest
from django.db import transaction

from orders_site.eventstore.models import StoredEvent
from orders_site.eventstore.store import NewEvent, append_event
from stack.harness import EmbeddedStack, wait_for

from .kafka_reader import collect

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


def test_worker_sigkill_under_backlog_loses_nothing(e2e: EmbeddedStack) -> None:
    # given thousands of events being committed while the relay streams them
    kind = _probe_type()
    batches: list[list[str]] = []

    def write() -> None:
        from django.db import connection
        try:
            for _ in range(100):
                batches.append(commit_probe_events(kind, 100))
        finally:
            connection.close()  # this thread's own connection

    writer = threading.Thread(target=write)
    writer.start()
    wait_for(lambda: len(batches) >= 30, 60, "the first 3,000 events to be committed")
    # when the Kafka Connect worker is SIGKILLed mid-stream (the relay launcher starts a new one)
    (java_pid,) = e2e["relay"].children()
    os.kill(java_pid, signal.SIGKILL)
    committed_at_kill = len(batches) * 100
    writer.join()
    ids = [i for batch in batches for i in batch]
    assert committed_at_kill < len(ids), "the writer must still be writing when the worker dies"
    # then every committed event is on Kafka; duplicates are allowed (and counted), losses are not
    got = collect(e2e.cfg.kafka_bootstrap, f"shop.{kind}.events", set(ids), timeout=180)
    missing = set(ids) - set(got.counts)
    print(f"\nworker SIGKILL after {committed_at_kill} commits: {len(ids)} committed, "
          f"{len(got.counts)} distinct received, "
          f"{got.duplicates} duplicates, {len(missing)} missing")
    assert not missing
    wait_for(lambda: e2e["relay"].children() not in ([], [java_pid]), 60, "a new worker process")


def test_broker_restart_redelivers_events_not_yet_processed(e2e: EmbeddedStack) -> None:
    # given events committed, some published and some not yet, and nobody has consumed them
    kind = _probe_type()
    before = commit_probe_events(kind, 500)
    # when the memory-only broker dies (taking topics, Connect's offsets and configs with it) while
    # more events are committed, and comes back empty
    e2e["broker"].kill()
    after_ids = commit_probe_events(kind, 500)
    e2e.start_broker()
    # then the relay notices, re-registers the connector and Debezium re-reads the event store:
    # every event, from before and during the outage, is on the new broker
    want = set(before) | set(after_ids)
    got = collect(e2e.cfg.kafka_bootstrap, f"shop.{kind}.events", want, timeout=240)
    missing = want - set(got.counts)
    print(f"\nbroker restart: {len(want)} committed, {len(missing)} missing, {got.duplicates} duplicates")
    assert not missing
    wait_for(lambda: "re-registering" in e2e["relay"].tail(200), 10, "the relay's recovery log line")
