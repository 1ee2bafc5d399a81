"""The consumer runtime's Kafka clients: settings, topic creation and the dead-letter topics."""
from __future__ import annotations

import logging
import time
import traceback
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from .config import RuntimeConfig

log = logging.getLogger("consumers")


class ConsumerClient(Protocol):
    """What the runtime uses of confluent_kafka.Consumer (a fake stands in for it in unit tests)."""

    def subscribe(self, topics: list[str]) -> None: ...
    def poll(self, timeout: float) -> Any: ...
    def store_offsets(self, *, offsets: list[Any]) -> None: ...
    def close(self) -> None: ...


class ProducerClient(Protocol):
    def produce(self, topic: str, *, key: bytes | None, value: bytes | None, headers: list) -> None: ...
    def flush(self, timeout: float) -> int: ...


def dlq_topic(service: str) -> str:
    return f"shop.dlq.{service}"


def consumer_settings(cfg: RuntimeConfig, group: str) -> dict[str, object]:
    return {
        "bootstrap.servers": cfg.bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",  # a new group starts from the beginning: safe because we dedupe
        "enable.auto.commit": True,
        "enable.auto.offset.store": False,  # offsets are stored only after the transaction commits
        "auto.commit.interval.ms": cfg.commit_interval_ms,
        # Incremental rebalancing: a member joining or leaving does not stop the others
        # (tests/e2e/test_consumer_group.py runs two live members of one group).
        "partition.assignment.strategy": "cooperative-sticky",
        # A SIGKILLed member's partitions move to the others (or its restarted self) after this.
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1500,
        # Reconnect to a restarted broker within a second of its return (librdkafka backs off up
        # to 10 s by default while it is away).
        "reconnect.backoff.max.ms": 1000,
        # Long polls: Kafka answers a waiting fetch once fetch.min.bytes have arrived or after
        # fetch.wait.max.ms, so an idle consumer costs almost no CPU (RuntimeConfig explains the trade).
        "fetch.wait.max.ms": cfg.fetch_wait_ms,
        "fetch.min.bytes": cfg.fetch_min_bytes,
        "max.poll.interval.ms": 300000,
        # Backstop for a subscribed topic created after the subscription (librdkafka's default
        # re-reads metadata only every 5 minutes); one small request per 10 s.
        "topic.metadata.refresh.interval.ms": 10000,
    }


def new_consumer(cfg: RuntimeConfig, service: str, *, extra: dict[str, object] | None = None) -> Consumer:
    """`extra`: settings added by others (consumers/observability.py's statistics callback)."""
    return Consumer({**consumer_settings(cfg, cfg.group(service)), **(extra or {})})


def new_producer(cfg: RuntimeConfig) -> Producer:
    """The dead-letter producer: idempotent, every replica acknowledges."""
    return Producer({"bootstrap.servers": cfg.bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 0})


def ensure_topics(cfg: RuntimeConfig, topics: list[str]) -> None:
    """Create the topics we read if the relay has not yet (it creates a topic on its first event)."""
    admin = AdminClient({"bootstrap.servers": cfg.bootstrap})
    futures = admin.create_topics([NewTopic(t, num_partitions=cfg.topic_partitions,
                                            replication_factor=cfg.topic_replication) for t in topics])
    for topic, future in futures.items():
        try:
            future.result(15)
        except KafkaException as err:
            if err.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                log.warning("could not create topic %s: %s", topic, err)
    # A subscription made before its topic shows in this client's metadata waits for the next
    # metadata refresh to see it (seen: a consumer deaf to a topic created a moment earlier).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            known = admin.list_topics(timeout=5).topics
        except KafkaException:  # the broker is still starting
            time.sleep(1)
            continue
        if all(t in known and known[t].error is None and known[t].partitions for t in topics):
            return
        time.sleep(0.2)
    log.warning("topics %s not visible after 30 s; subscribing anyway", ", ".join(topics))


def dead_letter_headers(msg: Any, service: str, reason: str, err: BaseException) -> list[tuple[str, bytes]]:
    """The message's own headers plus why it was parked and where it came from."""
    return list(msg.headers() or []) + [
        ("dlq.reason", reason.encode()),
        ("dlq.exception", "".join(traceback.format_exception_only(type(err), err)).strip().encode()[:4000]),
        ("dlq.consumer", service.encode()),
        ("dlq.origin.topic", msg.topic().encode()),
        ("dlq.origin.partition", str(msg.partition()).encode()),
        ("dlq.origin.offset", str(msg.offset()).encode()),
    ]
