"""The consumer runtime's settings, read from the environment once at start-up (docs/configuration.md)."""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class RuntimeConfig:
    bootstrap: str
    group_prefix: str = "orders"
    # Messages taken per batch at most: one transaction, one inbox statement, a few statements per
    # service for the lot. A batch is whatever has arrived (see Runtime.poll_batch), so under light
    # load it is one message and costs no waiting.
    batch_max: int = 500
    poll_timeout: float = 0.5
    # After a batch's first message, how long to keep collecting more before applying it (0: take only
    # what has already arrived). A batch's transaction, inbox claim, statements and commit cost about
    # as much as several of its events, so a short window buys fuller batches with a bounded wait per
    # hop (docs/benchmarks.md, "Saga, third pass").
    batch_wait: float = 0.0
    # Failures of one event, alone in its batch, before it is dead-lettered (counted from the attempt
    # that claims first: a batch's first attempt, with its claim riding along, does not count).
    max_attempts: int = 5
    retry_backoff_max: float = 5.0
    # How long the broker may hold a fetch to gather `fetch_min_bytes` (librdkafka's defaults: 500 ms,
    # 1 byte, i.e. answer as soon as anything arrives). Larger values trade a little latency per hop
    # for fewer, fuller fetches: less CPU in the broker and in the consumer (docs/benchmarks.md).
    # How often stored offsets are committed. A crash redelivers what was applied since the last
    # commit (the inbox absorbs it); tests lengthen it to make a crash's redelivery certain.
    commit_interval_ms: int = 1000
    fetch_wait_ms: int = 500
    fetch_min_bytes: int = 1
    # Same partition count as the relay's topic.creation settings, so keys land where they would.
    topic_partitions: int = 4
    topic_replication: int = 1

    def group(self, service: str) -> str:
        """The service's consumer group. A new prefix is a new group, which replays every topic from
        the beginning (safe: the inbox dedupes)."""
        return f"{self.group_prefix}-{service}"

    @classmethod
    def from_env(cls, bootstrap: str | None = None) -> RuntimeConfig:
        env = os.environ.get
        return cls(
            bootstrap=bootstrap or env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
            group_prefix=env("CONSUMER_GROUP_PREFIX") or "orders",
            batch_max=int(env("CONSUMER_BATCH_MAX") or 500),
            poll_timeout=float(env("CONSUMER_POLL_TIMEOUT") or 0.5),
            batch_wait=float(env("CONSUMER_BATCH_WAIT_MS") or 0) / 1000,
            max_attempts=int(env("CONSUMER_MAX_ATTEMPTS") or 5),
            commit_interval_ms=int(env("CONSUMER_COMMIT_INTERVAL_MS") or 1000),
            fetch_wait_ms=int(env("CONSUMER_FETCH_WAIT_MS") or 500),
            fetch_min_bytes=int(env("CONSUMER_FETCH_MIN_BYTES") or 1),
            topic_partitions=int(env("ORDERS_TOPIC_PARTITIONS") or 4),
            topic_replication=int(env("ORDERS_TOPIC_REPLICATION_FACTOR") or 1),
        )


def group_name(service: str) -> str:
    """The consumer group of `service` under the environment's prefix (for tools and tests)."""
    return RuntimeConfig.from_env().group(service)
