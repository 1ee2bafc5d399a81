"""Dead letters: list, show and re-drive messages parked on `shop.<dlq>.<service>` by the consumer runtime.

A re-drive sends the message back to its origin topic with its key (so the same partition) and its
original headers, and records it (models.Redrive). Safe to repeat: the consumers' inbox makes a second
delivery of an event a no-op. A message that still does not decode is not sent back: it is parked
again on the dead-letter topic with the new cause in `dlq.reason` / `dlq.exception`.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from consumers.events import PoisonMessage, decoded, from_message
from consumers.kafka import dlq_topic

from .models import Redrive
from .status import PipelineConfig

DLQ_HEADERS = ("dlq.reason", "dlq.exception", "dlq.consumer", "dlq.origin.topic", "dlq.origin.partition",
               "dlq.origin.offset")


@dataclass(frozen=True)
class DeadLetter:
    service: str
    topic: str
    partition: int
    offset: int
    timestamp: datetime | None
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str:
        for k, v in self.headers:
            if k == name:
                return (v or b"").decode(errors="replace")
        return ""

    @property
    def original_headers(self) -> list[tuple[str, bytes]]:
        return [(k, v) for k, v in self.headers if not k.startswith("dlq.")]

    event_type = property(lambda self: self.header("eventType"))
    event_id = property(lambda self: self.header("id"))
    reason = property(lambda self: self.header("dlq.reason"))
    exception = property(lambda self: self.header("dlq.exception"))
    origin_topic = property(lambda self: self.header("dlq.origin.topic"))
    origin = property(lambda self: f"{self.origin_topic}[{self.header('dlq.origin.partition')}]"
                                   f"@{self.header('dlq.origin.offset')}")


@dataclass(frozen=True)
class RedriveResult:
    sent: bool
    outcome: str


class NotFound(LookupError):
    """No dead letter at that partition and offset."""


class BrokerUnavailable(RuntimeError):
    """The broker did not answer (or did not take a re-driven message); nothing was recorded."""


def _reader(cfg: PipelineConfig) -> Consumer:
    # Assigned, never subscribed: reads without joining a group or committing anything.
    return Consumer({"bootstrap.servers": cfg.bootstrap, "group.id": f"orders-dlq-reader-{uuid.uuid4().hex[:8]}",
                     "enable.auto.commit": False, "enable.partition.eof": True, "auto.offset.reset": "earliest"})


def _read(cfg: PipelineConfig, service: str, start: dict[int, int] | None = None, limit: int = 200) -> list[DeadLetter]:
    """Messages of the service's DLQ: every partition from its beginning, or only the partitions in
    `start` from the given offsets."""
    topic = dlq_topic(service)
    reader = _reader(cfg)
    found: list[DeadLetter] = []
    try:
        try:
            meta = reader.list_topics(topic, timeout=cfg.timeout).topics.get(topic)
        except KafkaException as err:
            raise BrokerUnavailable(f"the broker at {cfg.bootstrap} did not answer: {err}") from err
        if meta is None or meta.error is not None or not meta.partitions:
            return []
        ends, assign = {}, []
        for p in sorted(meta.partitions):
            if start is not None and p not in start:
                continue
            low, high = reader.get_watermark_offsets(TopicPartition(topic, p), timeout=cfg.timeout)
            begin = max(low, (start or {}).get(p, low))
            if begin < high:
                ends[p] = high
                assign.append(TopicPartition(topic, p, begin))
        if not assign:
            return []
        reader.assign(assign)
        while ends and len(found) < limit:
            msg = reader.poll(cfg.timeout)
            if msg is None:
                break
            if msg.error():
                continue  # end of a partition: it is also dropped below once its last offset is read
            kind, ms = msg.timestamp()
            found.append(DeadLetter(service, topic, msg.partition(), msg.offset(),
                                    datetime.fromtimestamp(ms / 1000, timezone.utc) if kind else None,
                                    msg.key(), msg.value(), tuple(msg.headers() or [])))
            if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                ends.pop(msg.partition(), None)
    finally:
        reader.close()
    return found


def list_dead_letters(cfg: PipelineConfig, service: str, limit: int = 200) -> list[DeadLetter]:
    """The service's dead letters, oldest first per partition (up to `limit`)."""
    return _read(cfg, service, limit=limit)


def show(cfg: PipelineConfig, service: str, partition: int, offset: int) -> DeadLetter:
    found = [d for d in _read(cfg, service, {partition: offset}, limit=1) if d.offset == offset]
    if not found:
        raise NotFound(f"no dead letter at {dlq_topic(service)}[{partition}]@{offset}")
    return found[0]


def redriven(topic: str) -> dict[tuple[int, int], Redrive]:
    """Re-drives already done for a dead-letter topic, by (partition, offset); the latest wins."""
    done: dict[tuple[int, int], Redrive] = {}
    for r in Redrive.objects.filter(topic=topic).order_by("redriven_at"):
        done[(r.partition, r.offset)] = r
    return done


def why_undeliverable(letter: DeadLetter) -> str | None:
    """Why the message would fail again before any handler runs (headers or payload); None if it decodes."""
    if not letter.origin_topic:
        return "no dlq.origin.topic header: cannot tell where it came from"

    class _Msg:  # the shape consumers.events.from_message reads
        def headers(self): return list(letter.original_headers)
        def topic(self): return letter.origin_topic
        def key(self): return letter.key
        def value(self): return letter.value
        def partition(self): return int(letter.header("dlq.origin.partition") or 0)
        def offset(self): return int(letter.header("dlq.origin.offset") or 0)

    try:
        decoded(from_message(_Msg()))
    except PoisonMessage as err:
        return f"still undecodable: {err.__cause__ or err}"
    return None


def redrive(cfg: PipelineConfig, service: str, partition: int, offset: int, *, requested_by: str) -> RedriveResult:
    """Send one dead letter back to its origin topic (key and original headers kept), or park it again
    with the new cause when it still does not decode. Records the outcome. Raises NotFound."""
    letter = show(cfg, service, partition, offset)
    problem = why_undeliverable(letter)
    producer = Producer({"bootstrap.servers": cfg.bootstrap, "enable.idempotence": True, "acks": "all"})
    source = f"{letter.topic}[{partition}]@{offset}"
    if problem is None:
        target, headers = letter.origin_topic, letter.original_headers + [("dlq.redriven.from", source.encode())]
        outcome = f"sent to {target}"
    else:
        target = letter.topic
        headers = [(k, v) for k, v in letter.headers if k not in ("dlq.reason", "dlq.exception")] + [
            ("dlq.reason", b"re-drive refused"), ("dlq.exception", problem.encode()[:4000]),
            ("dlq.redriven.from", source.encode())]
        outcome = f"stayed in {target}: {problem}"
    producer.produce(target, key=letter.key, value=letter.value, headers=headers)
    if producer.flush(cfg.timeout * 6) > 0:
        raise BrokerUnavailable(f"the broker did not take the re-driven message for {target}; nothing recorded")
    Redrive.objects.create(topic=letter.topic, partition=partition, offset=offset, outcome=outcome[:300],
                           requested_by=requested_by)
    return RedriveResult(problem is None, outcome)
