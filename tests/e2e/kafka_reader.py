"""Read what is really on a Kafka topic, by event id (the `id` header Debezium's EventRouter sets).

Counting by consuming, not by the broker's high watermarks: the embedded broker's reported
watermarks lag behind what a consumer can read (STACK-NOTES).
"""
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


@dataclass
class Collected:
    counts: Counter = field(default_factory=Counter)
    records: dict[str, TopicRecord] = field(default_factory=dict)

    @property
    def duplicates(self) -> int:
        return sum(c - 1 for c in self.counts.values() if c > 1)


def _consumer(bootstrap: str) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-reader-{uuid.uuid4().hex}",
                     "enable.auto.commit": False, "fetch.wait.max.ms": 5, "auto.offset.reset": "earliest"})


def collect(bootstrap: str, topic: str, want: set[str], timeout: float = 60, settle: float = 0.0) -> Collected:
    """Read `topic` from the beginning until every id in `want` was seen (or `timeout`).

    With `settle` > 0, keep reading that many seconds after the last wanted id arrived, to catch
    records that should NOT be there (or late duplicates). Re-reads from scratch if the topic
    vanishes and reappears (broker restart).
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
                consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in assigned])
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error():
                headers = {k: v for k, v in (msg.headers() or [])}
                event_id = (headers.get("id") or b"").decode()
                result.counts[event_id] += 1
                result.records.setdefault(event_id, TopicRecord(msg.key(), msg.value(), headers,
                                                                msg.partition(), msg.offset()))
            if want <= set(result.counts):
                done_at = done_at or time.monotonic()
                if time.monotonic() - done_at >= settle:
                    break
        return result
    finally:
        consumer.close()
