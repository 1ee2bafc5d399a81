"""The consumer loop with fake Kafka clients and an in-memory unit of work: claim, retry, split,
dead-letter, offsets and shutdown, without a broker or a database."""
from __future__ import annotations

import uuid
from contextlib import contextmanager

import pytest
from django.db import IntegrityError, OperationalError

from consumers import inbox
from consumers.config import RuntimeConfig
from consumers.registry import Service
from consumers.runtime import Runtime, waves
from orders_site.eventstore import avro
from tests.consumer_fakes import FakeConsumer, FakeMessage, FakeProducer


class MemoryUnitOfWork:
    """Claims and effects that stick only when the 'transaction' ends without an exception."""

    def __init__(self) -> None:
        self.claimed: set[uuid.UUID] = set()
        self.applied: list[str] = []  # committed effects, in order
        self._claims: set[uuid.UUID] = set()
        self._effects: list[str] = []
        self.commits = 0
        self.refused_claims = 0

    @contextmanager
    def atomic(self):
        self._claims, self._effects = set(), []
        yield
        self.claimed |= self._claims
        self.applied += self._effects
        self.commits += 1

    def claim(self, consumer: str, ids: list[uuid.UUID]) -> set[uuid.UUID]:
        fresh = {i for i in ids if i not in self.claimed}
        self._claims |= fresh
        return fresh

    @contextmanager
    def claim_along(self, consumer: str, ids: list[uuid.UUID]):
        """As inbox.claim_along: the claim is written with the effects, and fails on an id claimed before."""
        assert len(set(ids)) == len(ids), "the loop drops a second copy of an event before claiming"
        yield
        if self.claimed & set(ids):
            self.refused_claims += 1
            raise _claim_violation()
        self._claims |= set(ids)

    def effect(self, label: str) -> None:
        self._effects.append(label)


def _claim_violation() -> IntegrityError:
    """What Django raises when the claim meets its unique constraint (psycopg's error as the cause)."""
    class Diag:
        constraint_name = inbox.CLAIM_CONSTRAINT

    class UniqueViolation(Exception):
        diag = Diag()

    err = IntegrityError("duplicate key value violates unique constraint")
    err.__cause__ = UniqueViolation()
    return err


def message(order: str, n: int, *, offset: int, event_id: uuid.UUID | None = None, partition: int = 0) -> FakeMessage:
    payload = avro.encode("StockHeld", {"order_id": str(uuid.UUID(int=n)), "lines": [{"sku": order, "quantity": n}]})
    return FakeMessage([("id", str(event_id or uuid.uuid4()).encode()), ("eventType", b"StockHeld"),
                        ("sequence", str(n).encode())], key_=order.encode(), value_=payload.payload,
                       topic_="shop.stock.events", partition_=partition, offset_=offset)


def label(event) -> str:
    return f"{event.aggregate_id}#{event.sequence}"


def runtime(handler, *, max_attempts: int = 3) -> tuple[Runtime, MemoryUnitOfWork, FakeConsumer, FakeProducer]:
    uow, consumer, producer = MemoryUnitOfWork(), FakeConsumer(), FakeProducer()
    service = Service(name="test", topics=["shop.stock.events"])
    service.handles("StockHeld")(lambda events: handler(uow, events))
    cfg = RuntimeConfig(bootstrap="unused", max_attempts=max_attempts, batch_max=100)
    return Runtime(service, cfg, consumer, producer, sleep=lambda s: None, atomic=uow.atomic, claim=uow.claim,
                   claim_along=uow.claim_along), uow, consumer, producer


def record_all(uow: MemoryUnitOfWork, events) -> None:
    for event in events:
        uow.effect(label(event))


def test_duplicates_inside_a_batch_and_across_batches_apply_once() -> None:
    rt, uow, consumer, _ = runtime(record_all)
    same = uuid.uuid4()
    first = [message("a", 1, offset=10, event_id=same), message("a", 1, offset=11, event_id=same),
             message("b", 1, offset=12)]
    rt.process_batch(first)
    rt.process_batch([message("a", 1, offset=13, event_id=same)])  # redelivered later
    assert uow.applied == ["a#1", "b#1"]
    assert (rt.stats.processed, rt.stats.duplicates) == (2, 2)
    assert consumer.stored == {("shop.stock.events", 0): 14}


def recording(calls: list[list[str]]):
    """A handler that applies every event and notes which it was handed, call by call."""
    def handler(uow, events):
        calls.append([label(e) for e in events])
        record_all(uow, events)
    return handler


def claims_made_first(rt: Runtime, uow: MemoryUnitOfWork) -> list[list[uuid.UUID]]:
    """The ids of each claim made before the effects (not riding along them), as the loop makes them."""
    made: list[list[uuid.UUID]] = []
    rt.claim = lambda consumer, ids: made.append(ids) or uow.claim(consumer, ids)
    return made


def test_a_batch_claims_with_its_effects_and_a_redelivery_is_applied_again_claiming_first() -> None:
    calls: list[list[str]] = []
    rt, uow, _, _ = runtime(recording(calls))
    claims_first = claims_made_first(rt, uow)
    seen = uuid.uuid4()
    # a fresh batch: one attempt, its claim written with its effects, no separate claim
    rt.process_batch([message("a", 1, offset=1, event_id=seen)])
    assert (uow.applied, claims_first, uow.commits) == (["a#1"], [], 1)
    # a batch with an event applied before: the claim that rode along is refused, nothing of the
    # attempt commits, and the batch is applied again claiming first, skipping that event
    rt.process_batch([message("a", 1, offset=2, event_id=seen), message("b", 1, offset=3)])
    assert uow.refused_claims == 1 and len(claims_first) == 1
    assert uow.applied == ["a#1", "b#1"] and calls[1:] == [["a#1", "b#1"], ["b#1"]]
    assert (rt.stats.redelivered, rt.stats.duplicates, rt.stats.retries, uow.commits) == (1, 1, 0, 2)


def test_a_failure_with_the_claim_riding_along_is_tried_again_claiming_first_before_it_counts() -> None:
    attempts: list[str] = []

    def handler(uow, events):
        attempts.append("claim first" if claims_first else "claim along")
        raise ValueError("cannot apply this one")

    rt, uow, _, producer = runtime(handler, max_attempts=2)
    claims_first = claims_made_first(rt, uow)
    rt.process_batch([message("bad", 1, offset=1)])
    # one attempt with the claim riding along, then the two counted ones
    assert attempts == ["claim along", "claim first", "claim first"]
    assert (rt.stats.redelivered, rt.stats.retries, rt.stats.dead_lettered) == (0, 1, 1)
    assert uow.applied == [] and len(producer.produced) == 1


def test_after_a_transient_error_the_batch_claims_first() -> None:
    # a deadlock can be two members applying the same events at once: claimed first, the second
    # waits on the claim before it takes any row
    failures = [OperationalError("deadlock detected")]

    def handler(uow, events):
        if failures:
            raise failures.pop()
        record_all(uow, events)

    rt, uow, _, _ = runtime(handler)
    claims_first = claims_made_first(rt, uow)
    rt.process_batch([message("a", 1, offset=1)])
    assert uow.applied == ["a#1"] and len(claims_first) == 1 and rt.stats.retries == 1


def test_one_transaction_per_batch_and_each_orders_events_in_arrival_order() -> None:
    calls: list[list[str]] = []
    rt, uow, _, _ = runtime(recording(calls))
    rt.process_batch([message("a", 1, offset=1), message("b", 1, offset=2), message("a", 2, offset=3),
                      message("a", 3, offset=4)])
    assert uow.commits == 1
    assert calls == [["a#1", "b#1"], ["a#2"], ["a#3"]]  # waves: at most one event per order per call


def test_a_transient_error_retries_the_whole_batch() -> None:
    failures = [OperationalError("server closed the connection unexpectedly")]

    def handler(uow, events):
        record_all(uow, events)
        if failures:
            raise failures.pop()

    rt, uow, _, producer = runtime(handler)
    rt.process_batch([message("a", 1, offset=1), message("b", 1, offset=2)])
    assert uow.applied == ["a#1", "b#1"]
    assert (rt.stats.retries, rt.stats.splits, producer.produced) == (1, 0, [])


def test_a_failing_event_is_split_out_and_dead_lettered_and_the_rest_commit_in_order() -> None:
    def handler(uow, events):
        if any(e.aggregate_id == "bad" for e in events):
            raise ValueError("cannot apply this one")
        record_all(uow, events)

    rt, uow, consumer, producer = runtime(handler, max_attempts=3)
    batch = [message("a", 1, offset=1), message("b", 1, offset=2), message("bad", 1, offset=3),
             message("c", 1, offset=4), message("d", 1, offset=5)]
    rt.process_batch(batch)
    assert uow.applied == ["a#1", "b#1", "c#1", "d#1"]
    assert rt.stats.splits >= 2 and rt.stats.dead_lettered == 1
    [parked] = producer.produced
    assert parked["topic"] == "shop.dlq.test" and parked["key"] == b"bad"
    assert parked["headers"]["dlq.reason"] == b"handler failed repeatedly"
    assert b"cannot apply this one" in parked["headers"]["dlq.exception"]
    assert parked["headers"]["dlq.origin.offset"] == b"3"
    assert consumer.stored == {("shop.stock.events", 0): 6}


def test_poison_goes_to_the_dead_letter_topic_without_a_transaction() -> None:
    rt, uow, consumer, producer = runtime(record_all)
    poison = FakeMessage([("eventType", b"StockHeld")], topic_="shop.stock.events", offset_=9)
    rt.process_batch([poison])
    assert uow.commits == 0 and rt.stats.dead_lettered == 1
    assert producer.produced[0]["headers"]["dlq.reason"] == b"poison"
    assert consumer.stored == {("shop.stock.events", 0): 10}


def test_an_unhandled_event_is_ignored_on_its_envelope_and_a_handled_one_is_parsed_in_full() -> None:
    rt, uow, _, _ = runtime(record_all)
    broken_id = [("id", b"not-a-uuid"), ("sequence", b"1")]
    unhandled = FakeMessage([("eventType", b"Unhandled"), *broken_id], topic_="shop.stock.events", offset_=1)
    handled = FakeMessage([("eventType", b"StockHeld"), *broken_id], topic_="shop.stock.events", offset_=2)
    rt.process_batch([unhandled, handled])
    # The unhandled one is neither parsed further nor dead-lettered (its service, if any, judges it);
    # its sequence is still tracked. The handled one is parsed and its bad id found.
    assert (rt.stats.ignored, rt.stats.dead_lettered, uow.commits) == (1, 1, 0)
    assert rt.sequences.last[("shop.stock.events", "order-1")] == 1
    rt.process_batch([message("a", 1, offset=3)])
    assert uow.applied == ["a#1"]


def test_offsets_are_not_stored_when_the_dead_letter_topic_is_unreachable() -> None:
    rt, _, consumer, producer = runtime(record_all)
    producer.reachable = False
    with pytest.raises(RuntimeError):
        rt.process_batch([FakeMessage([], topic_="shop.stock.events")])
    assert consumer.stored == {}


def test_offsets_are_stored_per_partition_after_the_last_message() -> None:
    rt, _, consumer, _ = runtime(record_all)
    rt.process_batch([message("a", 1, offset=5, partition=0), message("b", 1, offset=40, partition=2),
                      message("c", 1, offset=6, partition=0)])
    assert consumer.stored == {("shop.stock.events", 0): 7, ("shop.stock.events", 2): 41}


def test_stop_finishes_the_batch_in_hand_then_closes_the_clients() -> None:
    rt, uow, consumer, _ = runtime(record_all)
    consumer.queue = [message("a", 1, offset=1), message("b", 1, offset=2)]
    consumer.on_empty = rt.stop  # as SIGTERM would, once the queue is drained
    rt.run()
    assert uow.applied == ["a#1", "b#1"] and consumer.closed and consumer.subscribed == ["shop.stock.events"]


def test_waves_keep_per_aggregate_order() -> None:
    class E:
        def __init__(self, key: str, n: int) -> None:
            self.aggregate_id, self.n = key, n

    events = [E("a", 1), E("b", 1), E("a", 2), E("c", 1), E("a", 3), E("b", 2)]
    assert [[(e.aggregate_id, e.n) for e in w] for w in waves(events)] == [
        [("a", 1), ("b", 1), ("c", 1)], [("a", 2), ("b", 2)], [("a", 3)]]


@pytest.mark.parametrize("whole_batch", [False, True])
def test_a_whole_batch_service_gets_each_handler_called_once_with_everything_in_arrival_order(
        whole_batch: bool) -> None:
    from consumers.runtime import dispatch

    class E:
        def __init__(self, key: str, n: int, event_type: str) -> None:
            self.aggregate_id, self.n, self.event_type = key, n, event_type

    calls: list[list[tuple[str, int]]] = []

    def results(events) -> None:  # one function for two event types, as the order service has
        calls.append([(e.aggregate_id, e.n) for e in events])

    service = Service(name="t", topics=[], whole_batch=whole_batch)
    service.handles("Held")(results)
    service.handles("Paid")(results)
    events = [E("a", 1, "Held"), E("b", 1, "Held"), E("a", 2, "Paid"), E("b", 2, "Paid")]
    dispatch(service, events)
    if whole_batch:  # one call: every order locked in one statement, each order's events in order
        assert calls == [[("a", 1), ("b", 1), ("a", 2), ("b", 2)]]
    else:  # waves: one call per wave (and event type)
        assert calls == [[("a", 1), ("b", 1)], [("a", 2), ("b", 2)]]


def test_a_whole_batch_service_refuses_a_second_handler() -> None:
    service = Service(name="t", topics=[], whole_batch=True)
    service.handles("Held")(lambda events: None)
    with pytest.raises(ValueError, match="one handler"):
        service.handles("Paid")(lambda events: None)


def test_the_batch_observer_hears_what_became_of_each_message() -> None:
    def handler(uow, events):
        if any(e.aggregate_id == "bad" for e in events):
            raise ValueError("no")
        record_all(uow, events)

    rt, _, _, _ = runtime(handler, max_attempts=1)
    heard: list[tuple[list, float]] = []

    class Observer:
        def batch(self, outcomes, seconds) -> None:
            heard.append(([(m.offset(), o) for m, o in outcomes], seconds))

        def retried(self) -> None:
            heard.append(([], -1.0))

    rt.observer = Observer()
    same = uuid.uuid4()
    rt.process_batch([message("a", 1, offset=1, event_id=same), message("a", 1, offset=2, event_id=same),
                      message("bad", 1, offset=3), FakeMessage([], topic_="shop.stock.events", offset_=4),
                      FakeMessage([("id", str(uuid.uuid4()).encode()), ("eventType", b"Unhandled")],
                                  topic_="shop.stock.events", offset_=5)])
    *retries, (outcomes, seconds) = heard
    assert len(retries) == 0  # max_attempts=1: split down to the failing event, which is not retried
    assert sorted(outcomes) == [(1, "processed"), (2, "duplicate"), (3, "dead_lettered"), (4, "dead_lettered"),
                                (5, "ignored")]
    assert seconds >= 0


def test_poison_found_by_a_handler_is_dead_lettered_at_once_as_poison() -> None:
    from consumers.events import PoisonMessage

    def handler(uow, events):
        if any(e.aggregate_id == "bad" for e in events):
            raise PoisonMessage("StockHeld without a valid order_id")
        record_all(uow, events)

    rt, uow, _, producer = runtime(handler, max_attempts=5)
    rt.process_batch([message("a", 1, offset=1), message("bad", 1, offset=2)])
    assert uow.applied == ["a#1"] and rt.stats.retries == 0
    [parked] = producer.produced
    assert parked["key"] == b"bad" and parked["headers"]["dlq.reason"] == b"poison"


class TimedConsumer(FakeConsumer):
    """Records the timeout of every poll; each message 'arrives' after `gap` seconds of fake time."""

    def __init__(self, messages: list, gap: float) -> None:
        super().__init__(queue=list(messages))
        self.gap, self.timeouts, self.now = gap, [], 0.0

    def poll(self, timeout: float):
        self.timeouts.append(round(timeout, 3))
        if not self.queue or self.gap > timeout:
            self.now += timeout
            return None
        self.now += self.gap
        return self.queue.pop(0)


@pytest.mark.parametrize(("wait", "gap", "taken"), [(0.0, 0.0, 5), (0.0, 0.01, 1), (0.05, 0.01, 5), (0.025, 0.01, 3)])
def test_a_batch_collects_for_at_most_the_batch_window(monkeypatch, wait: float, gap: float, taken: int) -> None:
    consumer = TimedConsumer([message("a", n, offset=n) for n in range(1, 8)], gap)
    monkeypatch.setattr("consumers.runtime.time.monotonic", lambda: consumer.now)
    cfg = RuntimeConfig(bootstrap="unused", batch_max=5, batch_wait=wait)
    rt = Runtime(Service(name="test", topics=["shop.stock.events"]), cfg, consumer, FakeProducer())
    batch = rt.poll_batch()
    assert len(batch) == taken  # capped by batch_max, or by what arrived within the window
    assert consumer.timeouts[0] == cfg.poll_timeout  # the first message is waited for as long as ever
    assert all(t <= wait for t in consumer.timeouts[1:])  # the rest never wait past the window
