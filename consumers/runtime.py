"""The consumer loop shared by every service: at-least-once delivery made effectively-once, a batch at a time.

Per batch (whatever has arrived, up to RuntimeConfig.batch_max messages):
  1. each message's envelope (event type and sequence, from its headers; poison -> dead-letter
     topic); only events of handled types are parsed into InboundEvents, decoded and filtered by the
     service's `when`; the rest are ignored without a transaction;
  2. one database transaction: the handlers get the batch's events (a second copy inside the batch
     dropped), in waves that keep each order's events in arrival order, and the inbox claim of every
     event id is written with their first events (inbox.claim_along); effects and outbox events
     commit with the claims. A claim that meets an event claimed before (a redelivery) fails, and
     the batch is applied again claiming first, which hands the handlers only the new events (see
     Runtime.apply);
  3. only then store the offsets (auto-commit sends stored offsets), so a crash between 2 and 3 means
     redelivery, which step 2 turns into a no-op (docs/design.md, "Delivery guarantees").
Transient errors (database down, serialization failure, deadlock) retry the whole batch with backoff
for as long as it takes. Any other failure splits the batch in halves (earlier half first, so
per-partition order holds) until the failing event stands alone; it is retried a few times, then
parked on the dead-letter topic with its cause, and the rest commits.
The Kafka clients are injected, so the loop is unit-tested with fakes (tests/unit/test_runtime_loop.py).
"""
from __future__ import annotations

import logging
import signal
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from django.db import InterfaceError, OperationalError, close_old_connections, connection, transaction

from . import inbox
from .config import RuntimeConfig
from .events import InboundEvent, PoisonMessage, envelope_of, from_message
from .kafka import ConsumerClient, ProducerClient, dead_letter_headers, dlq_topic
from .registry import BatchHandler, Service
from .sequences import SequenceTracker

log = logging.getLogger("consumers")

# Worth retrying as they are: the database is away or restarting, or PostgreSQL aborted the
# transaction to resolve a deadlock or a serialization conflict (psycopg's errors for these are
# OperationalErrors).
TRANSIENT = (OperationalError, InterfaceError)


@dataclass
class Stats:
    # `processed` first: tests and the chaos run read "stats processed=..." lines from the log.
    processed: int = 0
    duplicates: int = 0
    ignored: int = 0
    dead_lettered: int = 0
    retries: int = 0
    splits: int = 0
    sequence_gaps: int = 0
    out_of_order: int = 0
    batches: int = 0
    # Batches applied again claiming first because one of their events had been claimed before.
    redelivered: int = 0


Work = tuple[InboundEvent, Any]  # an event and the message it came in
Outcome = tuple[Any, str]  # a message and what became of it: processed, duplicate, ignored, dead_lettered


class Observer(Protocol):
    """Told what the loop did: metrics and one log line per event (consumers/observability.py; the
    loop itself knows nothing of either, and runs without one in tests)."""

    def batch(self, outcomes: list[Outcome], seconds: float) -> None:
        """A batch is finished (committed, its offsets stored), after `seconds` from its poll."""

    def retried(self) -> None:
        """A batch (or part of one) is about to be tried again."""


def waves(events: list[InboundEvent]) -> list[list[InboundEvent]]:
    """Split events into waves holding at most one event per aggregate (the Kafka key), each
    aggregate's events in arrival order across the waves: a handler applies a wave set-based and
    still sees every order's events one after the other."""
    out: list[list[InboundEvent]] = []
    depth: dict[str, int] = {}
    for event in events:
        n = depth.get(event.aggregate_id, 0)
        depth[event.aggregate_id] = n + 1
        if n == len(out):
            out.append([])
        out[n].append(event)
    return out


def dispatch(service: Service, events: list[InboundEvent]) -> None:
    """Hand claimed events to the service's handlers. Requires: the batch's transaction."""
    if service.whole_batch:  # one call per handler, with every event it handles, in arrival order
        by_handler: dict[BatchHandler, list[InboundEvent]] = {}
        for event in events:
            by_handler.setdefault(service.handlers[event.event_type], []).append(event)
        for handler, group in by_handler.items():
            handler(group)
        return
    for wave in waves(events):
        by_type: dict[str, list[InboundEvent]] = {}
        for event in wave:
            by_type.setdefault(event.event_type, []).append(event)
        for event_type, group in by_type.items():
            service.handlers[event_type](group)


class Runtime:
    def __init__(self, service: Service, cfg: RuntimeConfig, consumer: ConsumerClient, producer: ProducerClient,
                 *, sleep: Callable[[float], None] = time.sleep,
                 atomic: Callable[[], AbstractContextManager] = transaction.atomic,
                 claim: Callable[[str, list[uuid.UUID]], set[uuid.UUID]] = inbox.claim,
                 claim_along: Callable[[str, list[uuid.UUID]], AbstractContextManager] | None = inbox.claim_along,
                 observer: Observer | None = None) -> None:
        # The unit of work (atomic + claim) is injectable too: the unit tests run the loop's
        # claim / retry / split / dead-letter logic with an in-memory stand-in.
        self.atomic, self.claim, self.claim_along = atomic, claim, claim_along
        self.observer = observer
        self.service = service
        self.cfg = cfg
        self.consumer = consumer
        self.producer = producer
        self.sleep = sleep
        self.sequences = SequenceTracker()
        self.stats = Stats()
        self.running = True
        self._reported = Stats()
        self._reported_at = 0.0

    def stop(self, *_args: object) -> None:
        # Only flip the flag: the loop finishes the batch in hand, stores its offsets and closes.
        self.running = False

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        self.consumer.subscribe(self.service.topics)
        log.info("consumer %s subscribed to %s (batches of up to %d)", self.service.name,
                 ", ".join(self.service.topics), self.cfg.batch_max)
        try:
            while self.running:
                self.run_periodic()
                self.report()
                batch = self.poll_batch()
                if batch:
                    self.process_batch(batch)
        finally:
            self.consumer.close()  # commits the stored offsets and leaves the group
            self.producer.flush(10)
            log.info("consumer %s stopped: %s", self.service.name, self.stats)

    def poll_batch(self) -> list[Any]:
        """Wait up to poll_timeout for a message, then collect more for up to cfg.batch_wait (without
        waiting when it is 0): a backlog comes in large batches, and a lone message waits at most the
        window. Only poll() is used: the unit tests' fake consumer implements it alone."""
        first = self.consumer.poll(self.cfg.poll_timeout)
        if first is None:
            return []
        batch = [first]
        deadline = time.monotonic() + self.cfg.batch_wait
        while len(batch) < self.cfg.batch_max:
            msg = self.consumer.poll(max(0.0, deadline - time.monotonic()))
            if msg is None:
                break
            batch.append(msg)
        return batch

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

    # -- one batch ------------------------------------------------------------------------------
    def process_batch(self, messages: list[Any]) -> None:
        started = time.perf_counter()
        work: list[Work] = []
        delivered = []
        outcomes: list[Outcome] = []
        for msg in messages:
            if msg.error():
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    log.warning("consumer %s: %s", self.service.name, msg.error())
                continue
            delivered.append(msg)
            try:
                event = self.read(msg)
            except PoisonMessage as err:
                self.dead_letter(msg, "poison", err.__cause__ or err)  # the real error, not our wrapper
                outcomes.append((msg, "dead_lettered"))
                continue
            if event is None:
                self.stats.ignored += 1
                outcomes.append((msg, "ignored"))
            else:
                work.append((event, msg))
        if work:
            outcomes += self.apply(work)
        self.store_offsets(delivered)
        if self.observer is not None and outcomes:
            self.observer.batch(outcomes, time.perf_counter() - started)

    def read(self, msg: Any) -> InboundEvent | None:
        """The message as an event its service must apply, or None when it has nothing to do."""
        envelope = envelope_of(msg)
        self._check_sequence(msg.topic(), (msg.key() or b"").decode(errors="replace"), envelope.sequence)
        if envelope.event_type not in self.service.handlers:
            return None
        event = from_message(msg, envelope, decode=True)
        return event if self.service.wants(event) else None

    def _check_sequence(self, topic: str, aggregate_id: str, sequence: int | None) -> None:
        """Count gaps and reordering in an aggregate's sequence. Handlers decide on state, not on
        arrival order, so neither stops processing: a lower number is a redelivery (the inbox makes it
        a no-op). A gap is counted, not warned about: most are unpublished events (an order's progress
        statuses, schemas/README.md "What is published"); an event lost on the way is what the
        invariant checker's "published" check reports, comparing the store with the topics."""
        verdict = self.sequences.observe(topic, aggregate_id, sequence)
        if verdict == "gap":
            self.stats.sequence_gaps += 1
            log.debug("consumer %s: sequence gap on %s/%s before #%s", self.service.name, topic,
                      aggregate_id, sequence)
        elif verdict == "behind":
            self.stats.out_of_order += 1

    def apply(self, work: list[Work], *, claim_first: bool = False) -> list[Outcome]:
        """Apply the events in one transaction, splitting on failure (see the module docstring).
        Returns what became of each message: processed, duplicate or dead_lettered.

        First the batch is applied as if none of its events had been applied before, its claim
        written with its first events (claim_along). Almost always that holds, and it saves the claim
        its own round trip; when it does not (a redelivery: the claim fails on its constraint) or the
        attempt fails in any other way, the batch is applied again claiming first, which skips what
        was applied before and fails as it always did."""
        failures = 0
        delay = 0.05
        claim_first = claim_first or self.claim_along is None
        while True:
            # No close_old_connections() here: with health checks on it costs a round trip per
            # batch. A dead connection fails the transaction instead, and the TRANSIENT branch
            # below closes it and retries.
            try:
                with self.atomic():
                    if claim_first:
                        claimed = self.claim(self.service.name, [event.event_id for event, _ in work])
                    else:
                        claimed = {event.event_id for event, _ in work}
                    fresh: list[InboundEvent] = []
                    for event, _ in work:
                        if event.event_id in claimed:
                            claimed.discard(event.event_id)  # a second copy in this batch is a duplicate
                            fresh.append(event)
                    if claim_first:
                        dispatch(self.service, fresh)
                    else:
                        with self.claim_along(self.service.name, [event.event_id for event in fresh]):
                            dispatch(self.service, fresh)
                self.stats.batches += 1
                self.stats.processed += len(fresh)
                self.stats.duplicates += len(work) - len(fresh)
                applied = {id(event) for event in fresh}
                return [(msg, "processed" if id(event) in applied else "duplicate") for event, msg in work]
            except TRANSIENT as err:
                # The database is away (restart, failover) or aborted us: wait for it however long
                # it takes, unless we are shutting down, in which case the offsets stay unstored.
                log.warning("consumer %s: transient error, retrying %d event(s) in %.2fs: %s", self.service.name,
                            len(work), delay, err)
                connection.close()
                # Claiming first from now on: a deadlock here can be two members applying the same
                # events at once (a rebalance), whose claims riding along wait for each other only
                # after each took its rows; claimed first, the second waits before taking any.
                claim_first = True
                if not self.running:
                    raise SystemExit(0) from err
            except Exception as err:  # noqa: BLE001 - any handler bug counts toward dead-lettering
                if not claim_first:  # not a failure yet: see the docstring
                    if inbox.claimed_before(err):
                        self.stats.redelivered += 1
                    else:  # a failure of its own, counted when the claim-first attempt meets it again
                        log.info("consumer %s: batch of %d failed with its claim riding along (%r); applying it "
                                 "again claiming first", self.service.name, len(work), err)
                    claim_first = True
                    continue
                if len(work) > 1:
                    self.stats.splits += 1
                    half = len(work) // 2
                    log.warning("consumer %s: batch of %d failed (%r); splitting it", self.service.name,
                                len(work), err)
                    return (self.apply(work[:half], claim_first=True)
                            + self.apply(work[half:], claim_first=True))
                event, msg = work[0]
                if isinstance(err, PoisonMessage):  # e.g. no readable order_id: retrying cannot help
                    self.dead_letter(msg, "poison", err.__cause__ or err)
                    return [(msg, "dead_lettered")]
                failures += 1
                log.warning("consumer %s: %s %s failed (attempt %d/%d): %r", self.service.name, event.event_type,
                            event.event_id, failures, self.cfg.max_attempts, err)
                if failures >= self.cfg.max_attempts:
                    self.dead_letter(msg, "handler failed repeatedly", err)
                    return [(msg, "dead_lettered")]
            self.stats.retries += 1
            if self.observer is not None:
                self.observer.retried()
            self.sleep(delay)
            delay = min(delay * 2, self.cfg.retry_backoff_max)

    def store_offsets(self, messages: list[Any]) -> None:
        """Mark the batch consumed: per partition, the offset after its last message."""
        latest: dict[tuple[str, int], int] = {}
        for msg in messages:
            key = (msg.topic(), msg.partition())
            latest[key] = max(latest.get(key, -1), msg.offset())
        for (topic, partition), offset in latest.items():
            try:
                self.consumer.store_offsets(offsets=[TopicPartition(topic, partition, offset + 1)])
            except KafkaException as err:
                # The partition moved to another member meanwhile (a rebalance): it will be
                # redelivered there, and the inbox makes that a no-op.
                log.info("consumer %s: offset of %s[%d]@%d not stored: %s", self.service.name, topic, partition,
                         offset, err)

    def dead_letter(self, msg: Any, reason: str, err: BaseException) -> None:
        """Park the message on the service's DLQ with why and where from; block until the broker has it."""
        self.producer.produce(dlq_topic(self.service.name), key=msg.key(), value=msg.value(),
                              headers=dead_letter_headers(msg, self.service.name, reason, err))
        if self.producer.flush(30) > 0:
            raise RuntimeError("dead-letter topic unreachable; not acknowledging the message")
        self.stats.dead_lettered += 1
        log.error("consumer %s: dead-lettered %s[%d]@%d: %s: %s", self.service.name, msg.topic(),
                  msg.partition(), msg.offset(), reason, err)
