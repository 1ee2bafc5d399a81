"""Read what is really on a Kafka topic, by event id (the `id` header Debezium's EventRouter sets),
and check the topic catalog's promise of per-aggregate order on what was read."""
from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition


@dataclass
class TopicRecord:
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes | None]
    partition: int
    offset: int


    @property
    def sequence(self) -> int:
        return int(self.headers["sequence"])


@dataclass
class Collected:
    counts: Counter = field(default_factory=Counter)
    records: dict[str, TopicRecord] = field(default_factory=dict)  # first occurrence of each id
    in_order: list[TopicRecord] = field(default_factory=list)  # everything read, each partition in order

    @property
    def duplicates(self) -> int:
        return sum(c - 1 for c in self.counts.values() if c > 1)


def _consumer(bootstrap: str) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-reader-{uuid.uuid4().hex}",
                     "enable.auto.commit": False, "auto.offset.reset": "earliest"})


def out_of_order(records: list[TopicRecord]) -> dict[bytes | None, list[int]]:
    """Aggregates (keys) whose events first appear out of sequence order, with the order seen.

    Redeliveries of an event already seen are allowed anywhere (at-least-once); what must never
    happen is an event appearing for the first time before an earlier event of its aggregate."""
    first_seen: dict[bytes | None, list[int]] = {}
    for record in records:
        seen = first_seen.setdefault(record.key, [])
        if record.sequence not in seen:
            seen.append(record.sequence)
    return {key: seqs for key, seqs in first_seen.items() if seqs != sorted(seqs)}


def explain(records: list[TopicRecord], key: bytes | None) -> list[tuple[int, int, int, str]]:
    """(partition, offset, sequence, event id) of every record of one aggregate, as read."""
    return [(r.partition, r.offset, r.sequence, (r.headers.get("id") or b"").decode()[:8])
            for r in records if r.key == key]


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """Each partition's high watermark now."""
    consumer = _consumer(bootstrap)
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
    finally:
        consumer.close()


def collect(bootstrap: str, topic: str, want: set[str], timeout: float = 60, settle: float = 0.0,
            start: dict[int, int] | None = None) -> Collected:
    """Read `topic` from the beginning (or from `start`, offsets per partition) until every id in
    `want` was seen (or `timeout`).

    With `settle` > 0, keep reading that many seconds after the last wanted id arrived, to catch
    records that should NOT be there (or late duplicates).
    """
    deadline = time.monotonic() + timeout
    result = Collected()
    consumer = _consumer(bootstrap)
    assigned: list[int] = []
    done_at: float | None = None
    try:
        while time.monotonic() < deadline:
            if not assigned:
                try:
                    meta = consumer.list_topics(topic, timeout=2).topics.get(topic)
                except KafkaException:
                    meta = None
                if meta is None or meta.error is not None or not meta.partitions:
                    time.sleep(0.2)
                    continue
                assigned = sorted(meta.partitions)
                consumer.assign([TopicPartition(topic, p, (start or {}).get(p, OFFSET_BEGINNING)) for p in assigned])
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error():
                headers = {k: v for k, v in (msg.headers() or [])}
                event_id = (headers.get("id") or b"").decode()
                record = TopicRecord(msg.key(), msg.value(), headers, msg.partition(), msg.offset())
                result.counts[event_id] += 1
                result.records.setdefault(event_id, record)
                result.in_order.append(record)
            if want <= set(result.counts):
                done_at = done_at or time.monotonic()
                if time.monotonic() - done_at >= settle:
                    break
        return result
    finally:
        consumer.close()
