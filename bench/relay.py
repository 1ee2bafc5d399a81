"""Relay benchmark: commit-to-Kafka latency at a steady rate, and the rate a backlog drains at.

Latency is taken from the moment the writer's COMMIT returns to the moment a consumer (a child
process, same clock) receives the record. Delivery is counted by consuming, by event id.
"""
from __future__ import annotations

import multiprocessing
import os
import threading
import time
import uuid
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from .stackup import percentile, say

TARGET_P99_MS = 25.0
TARGET_BROKER_P99_MS = 10.0
TARGET_DRAIN = 40_000.0


def _receive(bootstrap: str, topic: str, stop, out) -> None:
    """Child process: consume `topic` from the beginning, sending (event id, arrival time) batches."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}",
                        "enable.auto.commit": False})  # Kafka answers a waiting fetch on arrival
    try:
        while not stop.is_set():  # the relay creates the topic on its first event
            meta = consumer.list_topics(topic, timeout=2).topics.get(topic)
            if meta is not None and meta.error is None and meta.partitions:
                break
            time.sleep(0.05)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions])
        while not stop.is_set():
            # poll() returns on the first record (consume(n, timeout) waits out its timeout unless n
            # records come, which would add up to that timeout to every latency); then whatever
            # else is already there, stamped together.
            first = consumer.poll(0.1)
            if first is None:
                continue
            msgs = [first, *consumer.consume(10_000, 0)]
            now = time.time()
            batch = [(next(v for k, v in m.headers() if k == "id").decode(), now) for m in msgs if not m.error()]
            if batch:
                out.put(batch)
    finally:
        consumer.close()
        out.put(None)


@dataclass
class Receiver:
    """Consumes one topic from the beginning and records when each event id arrived.

    The consuming runs in its own process and stamps arrivals there: in a thread of this process it
    would wait for the GIL behind the writer, and the wait would be counted as relay latency."""

    bootstrap: str
    topic: str
    arrivals: dict[str, float] = field(default_factory=dict)
    duplicates: int = 0

    def start(self) -> None:
        ctx = multiprocessing.get_context("spawn")  # no inherited Django connection or Kafka client
        self._stop, self._queue = ctx.Event(), ctx.Queue()
        self._proc = ctx.Process(target=_receive, args=(self.bootstrap, self.topic, self._stop, self._queue),
                                 daemon=True)
        self._proc.start()
        self._collector = threading.Thread(target=self._collect, daemon=True)
        self._collector.start()

    def _collect(self) -> None:
        while (batch := self._queue.get()) is not None:
            for event_id, at in batch:
                if event_id in self.arrivals:
                    self.duplicates += 1
                else:
                    self.arrivals[event_id] = at

    def wait_for(self, ids: set[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(ids - self.arrivals.keys()) == 0:
                return True
            time.sleep(0.01)
        return False

    def stop(self) -> None:
        self._stop.set()
        self._collector.join(15)
        self._proc.join(10)


def _append_one(aggregate_type: str, n: int) -> str:
    from django.db import transaction

    from orders_site.eventstore.store import NewEvent, append_event

    with transaction.atomic():
        event = append_event(NewEvent(aggregate_type, f"agg-{n}", "BenchRecorded", os.urandom(200), "0" * 16,
                                      uuid.uuid4()), sequence=1)
    return str(event.event_id)


def measure_latency(bootstrap: str, rate: float, seconds: float, warmup: float = 2.0) -> dict[str, object]:
    """One event per transaction, paced on a fixed schedule (no drift from the time work takes)."""
    kind = f"benchlat{uuid.uuid4().hex[:6]}"
    receiver = Receiver(bootstrap, f"shop.{kind}.events")
    receiver.start()
    # The first event creates the topic; wait until it has arrived, so that neither the topic's
    # creation nor its first produce (refused until the broker has applied the new partition and
    # retried after a backoff) is counted as the relay's latency.
    receiver.wait_for({_append_one(kind, -1)}, 60)
    committed: dict[str, float] = {}
    interval = 1.0 / rate
    start = time.perf_counter()
    total = int(rate * (seconds + warmup))
    say(f"latency: committing {total} events at {rate:.0f}/s, one per transaction")
    for n in range(total):
        delay = start + n * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        event_id = _append_one(kind, n)
        if n >= rate * warmup:
            committed[event_id] = time.time()
        if n and n % int(rate * 5) == 0:
            say(f"  {n}/{total} committed")
    achieved = total / (time.perf_counter() - start)
    receiver.wait_for(set(committed), 30)
    receiver.stop()
    latencies = sorted((receiver.arrivals[i] - t) * 1000 for i, t in committed.items() if i in receiver.arrivals)
    result = {"rate_target": rate, "rate_achieved": round(achieved, 1), "committed": len(committed),
              "received": len(latencies), "duplicates": receiver.duplicates,
              "p50_ms": round(percentile(latencies, 50), 1), "p95_ms": round(percentile(latencies, 95), 1),
              "p99_ms": round(percentile(latencies, 99), 1), "max_ms": round(latencies[-1], 1) if latencies else None}
    result["target_p99_ms"] = TARGET_P99_MS
    result["p99_met"] = bool(latencies) and result["p99_ms"] <= TARGET_P99_MS
    return result


def measure_broker_floor(bootstrap: str, rate: float, seconds: float, warmup: float = 2.0) -> dict[str, object]:
    """Produce -> consume latency of the broker alone (no database, no relay) at the same rate: the
    part of commit-to-consumer latency the relay cannot remove."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"benchfloor{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 4, 1)]).values():
        future.result(10)
    receiver = Receiver(bootstrap, topic)
    receiver.start()
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 0})
    sent: dict[str, float] = {}
    say(f"broker floor: producing {int(rate * (seconds + warmup))} records at {rate:.0f}/s straight to the broker")
    start = time.perf_counter()
    for n in range(int(rate * (seconds + warmup))):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        event_id = str(uuid.uuid4())
        if n >= rate * warmup:  # the receiver joins the topic meanwhile; earlier records would skew p99
            sent[event_id] = time.time()
        producer.produce(topic, key=str(n), value=os.urandom(200), headers=[("id", event_id.encode())])
        producer.poll(0)
    producer.flush(10)
    receiver.wait_for(set(sent), 30)
    receiver.stop()
    latencies = sorted((receiver.arrivals[i] - t) * 1000 for i, t in sent.items() if i in receiver.arrivals)
    p99 = round(percentile(latencies, 99), 1)
    return {"records": len(sent), "received": len(latencies), "p50_ms": round(percentile(latencies, 50), 1),
            "p95_ms": round(percentile(latencies, 95), 1), "p99_ms": p99, "target_p99_ms": TARGET_BROKER_P99_MS,
            "p99_met": bool(latencies) and p99 <= TARGET_BROKER_P99_MS}


def warm_up(bootstrap: str, events: int = 20_000) -> None:
    """A fresh JVM drains a first backlog at half speed (JIT); a relay in service is warm."""
    say(f"warming the relay up with {events} events")
    measure_drain(bootstrap, events, quiet=True)


def measure_drain(bootstrap: str, backlog: int, quiet: bool = False) -> dict[str, object]:
    """Commit `backlog` events in one transaction (visible to logical decoding at once), then count
    how fast a consumer receives all of them."""
    from django.db import transaction

    from orders_site.eventstore.store import NewEvent, append_event

    kind = f"benchdrain{uuid.uuid4().hex[:6]}"
    receiver = Receiver(bootstrap, f"shop.{kind}.events")
    receiver.start()
    receiver.wait_for({_append_one(kind, -1)}, 60)  # the topic exists and has a leader
    if not quiet:
        say(f"drain: writing {backlog} events in one transaction")
    ids: set[str] = set()
    correlation = uuid.uuid4()
    with transaction.atomic():
        for n in range(backlog):
            event = append_event(NewEvent(kind, f"agg-{n % 1000}", "BenchRecorded", os.urandom(200), "0" * 16,
                                          correlation), sequence=n // 1000 + 1)
            ids.add(str(event.event_id))
            if n and n % 10000 == 0 and not quiet:
                say(f"  {n}/{backlog} written")
    committed_at = time.time()
    complete = receiver.wait_for(ids, 300)
    receiver.stop()
    arrivals = [receiver.arrivals[i] for i in ids if i in receiver.arrivals]
    elapsed = (max(arrivals) - committed_at) if arrivals else float("nan")
    rate = len(arrivals) / elapsed if arrivals else 0.0
    return {"backlog": backlog, "received": len(arrivals), "complete": complete, "duplicates": receiver.duplicates,
            "first_event_after_commit_ms": round((min(arrivals) - committed_at) * 1000, 1) if arrivals else None,
            "drain_seconds": round(elapsed, 3), "events_per_second": round(rate)}
