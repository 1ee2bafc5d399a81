"""Stand-ins for confluent-kafka's clients and messages, for tests of the consumer loop and the
handlers without a broker (the e2e tests use the real ones)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeError:
    code_: int

    def code(self) -> int:
        return self.code_


@dataclass
class FakeMessage:
    headers_: list[tuple[str, bytes | None]]
    key_: bytes | None = b"order-1"
    value_: bytes | None = b""
    topic_: str = "shop.order.events"
    partition_: int = 0
    offset_: int = 7
    error_: FakeError | None = None

    def headers(self) -> list: return self.headers_
    def key(self) -> bytes | None: return self.key_
    def value(self) -> bytes | None: return self.value_
    def topic(self) -> str: return self.topic_
    def partition(self) -> int: return self.partition_
    def offset(self) -> int: return self.offset_
    def error(self) -> FakeError | None: return self.error_


def message_of(stored: Any, *, partition: int = 0) -> FakeMessage:
    """The Kafka record the relay makes of an event-store row (headers as in connect/outbox-connector.json)."""
    headers = [("id", str(stored.event_id).encode()), ("eventType", stored.event_type.encode()),
               ("sequence", str(stored.sequence).encode()), ("correlationId", str(stored.correlation_id).encode()),
               ("causationId", str(stored.causation_id).encode() if stored.causation_id else None)]
    return FakeMessage(headers, key_=stored.aggregate_id.encode(), value_=bytes(stored.payload),
                       topic_=f"shop.{stored.aggregate_type}.events", partition_=partition, offset_=stored.position)


@dataclass
class FakeConsumer:
    """Hands out queued messages; records what the loop stored and whether it closed."""

    queue: list[Any] = field(default_factory=list)
    stored: dict[tuple[str, int], int] = field(default_factory=dict)
    subscribed: list[str] = field(default_factory=list)
    closed: bool = False
    on_empty: Any = None  # called when the queue runs dry (e.g. to stop the loop)

    def subscribe(self, topics: list[str]) -> None:
        self.subscribed = list(topics)

    def poll(self, timeout: float) -> Any:
        if not self.queue:
            if self.on_empty:
                self.on_empty()
            return None
        return self.queue.pop(0)

    def store_offsets(self, *, offsets: list[Any]) -> None:
        for tp in offsets:
            self.stored[(tp.topic, tp.partition)] = tp.offset

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeProducer:
    produced: list[dict[str, Any]] = field(default_factory=list)
    reachable: bool = True

    def produce(self, topic: str, *, key: bytes | None, value: bytes | None, headers: list) -> None:
        self.produced.append({"topic": topic, "key": key, "value": value, "headers": dict(headers)})

    def flush(self, timeout: float) -> int:
        return 0 if self.reachable else len(self.produced)
