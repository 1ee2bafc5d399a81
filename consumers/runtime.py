"""The consumer runtime shared by every service: at-least-once delivery made effectively-once.

Per message, in this order:
  1. headers -> InboundEvent (poison if impossible) and, for handled types, the Avro payload decoded;
  2. one database transaction: claim the event in the inbox (unique (consumer, event_id)); if the
     claim fails the event was already applied -> skip; otherwise run the handler, whose effects and
     outbox events commit together with the claim;
  3. only then store the offset (auto-commit sends stored offsets), so a crash between 2 and 3 means
     redelivery, which step 2 turns into a no-op (docs/design.md, "Delivery guarantees").
Transient errors (database down, connection lost) are retried with backoff for as long as it takes;
a handler that keeps failing, or a poison message, goes to the dead-letter topic with the reason and
origin in headers, and the consumer moves on. Messages of one partition are handled
one at a time, in order, so per-aggregate order (key = aggregate id) is preserved.
"""
from __future__ import annotations

import logging
import os
import signal
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from django.db import InterfaceError, OperationalError, close_old_connections, connection, transaction

from . import observability
from .events import InboundEvent, PoisonMessage, from_message

log = logging.getLogger("consumers")

Handler = Callable[[InboundEvent], None]


@dataclass
class Periodic:
    """Work a service does on a timer between messages (e.g. payment reconciliation)."""

    every_seconds: float
    run: Callable[[], object]
    last: float = 0.0


@dataclass
class Service:
    """A consumer service: its group name, topics and one handler per event type it reacts to."""

    name: str
    topics: list[str]
    handlers: dict[str, Handler] = field(default_factory=dict)
    # Which events of a handled type matter, judged on the decoded record. The rest are ignored
    # without a transaction: most OrderStatusChanged events mean nothing to stock or payment, and
    # each would otherwise cost an inbox row and a commit for nothing.
    wanted: dict[str, Callable[[dict], bool]] = field(default_factory=dict)
    periodic: list[Periodic] = field(default_factory=list)
    max_attempts: int = 5  # handler failures before the message is dead-lettered

    def handles(self, event_type: str, *, when: Callable[[dict], bool] | None = None) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.handlers[event_type] = fn
            if when is not None:
                self.wanted[event_type] = when
            return fn
        return register

    def wants(self, event: InboundEvent) -> bool:
        """Whether a (decoded) event of a handled type needs its handler."""
        when = self.wanted.get(event.event_type)
        return when is None or when(event.record)


@dataclass
class Stats:
    processed: int = 0
    duplicates: int = 0
    ignored: int = 0
    dead_lettered: int = 0
    retries: int = 0
    sequence_gaps: int = 0
    out_of_order: int = 0


TRANSIENT = (OperationalError, InterfaceError)


def dlq_topic(service: str) -> str:
    return f"shop.dlq.{service}"


def group_name(service: str) -> str:
    """The service's consumer group. A new CONSUMER_GROUP_PREFIX is a new group, which replays every
    topic from the beginning (safe: the inbox dedupes)."""
    return f"{os.environ.get('CONSUMER_GROUP_PREFIX', 'orders')}-{service}"


def kafka_settings(bootstrap: str, group: str) -> dict[str, object]:
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",  # a new group starts from the beginning: safe because we dedupe
        "enable.auto.commit": True,
        "enable.auto.offset.store": False,  # offsets are stored only after the transaction commits
        "auto.commit.interval.ms": 1000,
        # Incremental rebalancing: a member joining or leaving does not stop the others
        # (tests/e2e/test_consumer_group.py runs two live members of one group).
        "partition.assignment.strategy": "cooperative-sticky",
        # A SIGKILLed member's partitions move to the others (or its restarted self) after this.
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1500,
        # Reconnect to a restarted broker within a second of its return (librdkafka backs off up
        # to 10 s by default while it is away).
        "reconnect.backoff.max.ms": 1000,
        # fetch.wait.max.ms stays at librdkafka's default (500 ms): Kafka answers a waiting fetch as
        # soon as data arrives, so a long poll costs no latency and an idle consumer almost no CPU.
        "max.poll.interval.ms": 300000,
        # Backstop for a subscribed topic created after the subscription (librdkafka's default
        # re-reads metadata only every 5 minutes); one small request per 10 s.
        "topic.metadata.refresh.interval.ms": 10000,
    }


def ensure_topics(bootstrap: str, topics: list[str]) -> None:
    """Create the topics we read if the relay has not yet (it creates a topic on its first event).

    Same partition count as the relay's topic.creation settings, so keys land where they would.
    """
    partitions = int(os.environ.get("ORDERS_TOPIC_PARTITIONS", "4"))
    replication = int(os.environ.get("ORDERS_TOPIC_REPLICATION_FACTOR", "1"))
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(t, num_partitions=partitions, replication_factor=replication)
                                   for t in topics])
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


def claim(consumer_name: str, event: InboundEvent) -> bool:
    """Record the event in the inbox; False when it was already there. Requires: a transaction."""
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO processed_event (consumer, event_id, processed_at) VALUES (%s, %s, now()) "
            "ON CONFLICT (consumer, event_id) DO NOTHING RETURNING id",
            [consumer_name, event.event_id])
        return cur.fetchone() is not None


class Runtime:
    def __init__(self, service: Service, bootstrap: str, *, poll_timeout: float = 0.5) -> None:
        self.service = service
        self.bootstrap = bootstrap
        self.poll_timeout = poll_timeout
        self.sequences = SequenceTracker()
        self.stats = Stats()
        self.running = True
        self.group = group_name(service.name)
        self.consumer = Consumer({**kafka_settings(bootstrap, self.group), **observability.kafka_settings()})
        self._reported = Stats()
        self._reported_at = 0.0
        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                                  "linger.ms": 0})

    def stop(self, *_args: object) -> None:
        # Only flip the flag: the loop finishes the message in hand, stores its offset and closes.
        self.running = False

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        ensure_topics(self.bootstrap, self.service.topics)
        self.consumer.subscribe(self.service.topics)
        log.info("consumer %s subscribed to %s", self.service.name, ", ".join(self.service.topics))
        try:
            while self.running:
                self.run_periodic()
                self.report()
                msg = self.consumer.poll(self.poll_timeout)
                if msg is None:
                    continue
                if msg.error():
                    if msg.error().code() != KafkaError._PARTITION_EOF:
                        log.warning("consumer %s: %s", self.service.name, msg.error())
                    continue
                self.process(msg)
        finally:
            self.consumer.close()  # commits the stored offsets and leaves the group
            self.producer.flush(10)
            log.info("consumer %s stopped: %s", self.service.name, self.stats)

    def report(self, every: float = 2.0) -> None:
        """Log the counters when they changed (operators and tests read them)."""
        if time.monotonic() - self._reported_at >= every and self.stats != self._reported:
            self._reported, self._reported_at = replace(self.stats), time.monotonic()
            log.info("stats %s", " ".join(f"{k}={v}" for k, v in asdict(self.stats).items()))

    def run_periodic(self) -> None:
        now = time.monotonic()
        for task in self.service.periodic:
            if now - task.last >= task.every_seconds:
                task.last = now
                try:
                    close_old_connections()
                    task.run()
                except Exception:  # noqa: BLE001 - a failed sweep is retried on the next tick
                    log.exception("consumer %s: periodic task failed", self.service.name)
                    connection.close()

    # -- one message ----------------------------------------------------------------------------
    def process(self, msg: Message) -> None:
        # Metrics, the event's log line and its correlation context: all in consumers/observability.py.
        observability.batch_received(self.service.name, 1)
        with observability.handling(self.service.name, msg, self.stats):
            self._process(msg)

    def _process(self, msg: Message) -> None:
        try:
            event = from_message(msg)
            self._check_sequence(event)
            handler = self.service.handlers.get(event.event_type)
            if handler is not None:
                event = decoded(event)
            if handler is None or not self.service.wants(event):
                self.stats.ignored += 1
            else:
                self._apply(handler, event, msg)
        except PoisonMessage as err:
            self.dead_letter(msg, "poison", err.__cause__ or err)  # the real error, not our wrapper
        try:
            self.consumer.store_offsets(msg)
        except KafkaException as err:
            # The partition moved to another member meanwhile (a rebalance): it will be redelivered
            # there, and the inbox makes that a no-op.
            log.info("consumer %s: offset of %s[%d]@%d not stored: %s", self.service.name, msg.topic(),
                     msg.partition(), msg.offset(), err)

    def _check_sequence(self, event: InboundEvent) -> None:
        """Detect gaps and reordering in an aggregate's sequence. Handlers decide on state, not on
        arrival order, so neither stops processing: a lower number is a redelivery (the inbox makes it
        a no-op), a gap is logged and counted (its event may come from a replay, or never, if it was
        lost upstream, which the invariant checker reports)."""
        verdict = self.sequences.observe(event.topic, event.aggregate_id, event.sequence)
        if verdict == "gap":
            self.stats.sequence_gaps += 1
            log.warning("consumer %s: sequence gap on %s/%s before #%s", self.service.name, event.topic,
                        event.aggregate_id, event.sequence)
        elif verdict == "behind":
            self.stats.out_of_order += 1

    def _apply(self, handler: Handler, event: InboundEvent, msg: Message) -> None:
        failures = 0
        delay = 0.05
        while True:
            # No close_old_connections() here: with health checks on it costs a round trip per
            # message (~8 % of a consumer's time). A dead connection fails the transaction instead,
            # and the TRANSIENT branch below closes it and retries.
            try:
                with transaction.atomic():
                    if not claim(self.service.name, event):
                        self.stats.duplicates += 1
                        return
                    handler(event)
                self.stats.processed += 1
                return
            except TRANSIENT as err:
                # The database is away (restart, failover): wait for it however long it takes,
                # unless we are shutting down, in which case the offset stays unstored.
                log.warning("consumer %s: transient error, retrying in %.2fs: %s", self.service.name, delay, err)
                connection.close()
                if not self.running:
                    raise SystemExit(0) from err
            except Exception as err:  # noqa: BLE001 - any handler bug counts toward dead-lettering
                failures += 1
                log.warning("consumer %s: %s failed (attempt %d/%d): %r", self.service.name, event.event_type,
                            failures, self.service.max_attempts, err)
                if failures >= self.service.max_attempts:
                    self.dead_letter(msg, "handler failed repeatedly", err)
                    return
            self.stats.retries += 1
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def dead_letter(self, msg: Message, reason: str, err: BaseException) -> None:
        """Park the message on the service's DLQ with why and where from; block until the broker has it."""
        headers = list(msg.headers() or []) + [
            ("dlq.reason", reason.encode()),
            ("dlq.exception", "".join(traceback.format_exception_only(type(err), err)).strip().encode()[:4000]),
            ("dlq.consumer", self.service.name.encode()),
            ("dlq.origin.topic", msg.topic().encode()),
            ("dlq.origin.partition", str(msg.partition()).encode()),
            ("dlq.origin.offset", str(msg.offset()).encode()),
        ]
        self.producer.produce(dlq_topic(self.service.name), key=msg.key(), value=msg.value(), headers=headers)
        if self.producer.flush(30) > 0:
            raise RuntimeError("dead-letter topic unreachable; not acknowledging the message")
        self.stats.dead_lettered += 1
        log.error("consumer %s: dead-lettered %s[%d]@%d: %s: %s", self.service.name, msg.topic(),
                  msg.partition(), msg.offset(), reason, err)


def decoded(event: InboundEvent) -> InboundEvent:
    """The event with its Avro payload decoded; PoisonMessage if it cannot be (unknown schema...)."""
    from orders_site.eventstore import avro

    try:
        return replace(event, record=avro.decode(event.payload, expected_event_type=event.event_type).record)
    except avro.SchemaError as err:
        raise PoisonMessage(str(err)) from err


class SequenceTracker:
    """Last sequence seen per aggregate (bounded: the oldest aggregates are forgotten first)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self.last: OrderedDict[tuple[str, str], int] = OrderedDict()

    def observe(self, topic: str, aggregate_id: str, sequence: int | None) -> str:
        """"next", "first", "gap" (numbers were skipped) or "behind" (a repeat or an older event)."""
        if sequence is None:
            return "first"
        key = (topic, aggregate_id)
        previous = self.last.get(key)
        if previous is not None and sequence <= previous:
            return "behind"
        self.last[key] = sequence
        self.last.move_to_end(key)
        if len(self.last) > self.capacity:
            self.last.popitem(last=False)
        if previous is None:
            return "first"  # after a restart we may join an aggregate mid-stream
        return "next" if sequence == previous + 1 else "gap"
