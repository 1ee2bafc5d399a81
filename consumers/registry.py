"""The consumer services: their names (written once, here), and how a service declares its handlers."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from .events import InboundEvent

# Every consumer service, in saga order. The stack, the benchmarks, the tests and the compose check
# read this tuple; a service `name` lives in `consumers/<name>.py` as its module's SERVICE.
SERVICE_NAMES = ("order", "stock", "payment", "delivery", "notification")

# A handler takes the batch's events of one type, in arrival order, at most one per order
# (see runtime.waves; with Service.whole_batch: all of them), and applies them in the caller's
# transaction. It may be handed an event it applied before: the batch's claim, written with its
# first events, then fails and the transaction rolls back (runtime.Runtime.apply). So whatever
# leaves the database (a gateway call, a message sent) happens after the commit
# (transaction.on_commit), which a rolled-back attempt never reaches.
BatchHandler = Callable[[list[InboundEvent]], None]


@dataclass
class Periodic:
    """Work a service does on a timer between batches (e.g. payment reconciliation)."""

    every_seconds: float
    run: Callable[[], object]
    last: float = 0.0


@dataclass
class Service:
    """A consumer service: its group name, topics and one batch handler per event type it reacts to."""

    name: str
    topics: list[str]
    handlers: dict[str, BatchHandler] = field(default_factory=dict)
    # Which events of a handled type matter, judged on the decoded record. The rest are ignored
    # without a transaction or an inbox row: most OrderStatusChanged events mean nothing to stock
    # or payment.
    wanted: dict[str, Callable[[dict], bool]] = field(default_factory=dict)
    periodic: list[Periodic] = field(default_factory=list)
    # True: each handler takes all of a batch's events it handles at once, in arrival order, several
    # per order included, and applies each order's in that order itself (no waves, see
    # runtime.dispatch). A handler that locks its rows then locks all of them in one sorted statement;
    # one wave after another would lock several sets in one transaction, and two such transactions
    # can take the same rows in opposite orders (a deadlock, found only after 1 s).
    whole_batch: bool = False

    def handles(self, event_type: str, *,
                when: Callable[[dict], bool] | None = None) -> Callable[[BatchHandler], BatchHandler]:
        def register(fn: BatchHandler) -> BatchHandler:
            if self.whole_batch and any(other is not fn for other in self.handlers.values()):
                # dispatch calls each handler once with its share of the batch: with two handlers an
                # order's events would no longer be applied in arrival order
                raise ValueError(f"service {self.name} takes whole batches, so it has one handler for every type")
            self.handlers[event_type] = fn
            if when is not None:
                self.wanted[event_type] = when
            return fn
        return register

    def wants(self, event: InboundEvent) -> bool:
        """Whether a (decoded) event of a handled type needs its handler."""
        when = self.wanted.get(event.event_type)
        return when is None or when(event.record)


def load(name: str) -> Service:
    """The service called `name` (one of SERVICE_NAMES)."""
    if name not in SERVICE_NAMES:
        raise ValueError(f"unknown consumer service {name!r}; known: {', '.join(SERVICE_NAMES)}")
    return importlib.import_module(f"consumers.{name}").SERVICE
