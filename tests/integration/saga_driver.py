"""The saga in-process: the five services' real handlers and the real consumer loop against the real
database, fed with the event store's rows as the relay would publish them, but without a broker."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from consumers import payment
from consumers.config import RuntimeConfig
from consumers.registry import SERVICE_NAMES, load
from consumers.runtime import Runtime
from gateway.__main__ import Handler
from gateway.faults import FaultPlan
from gateway.ledger import Ledger
from orders_site.eventstore.models import StoredEvent
from orders_site.payments.gateway_client import GatewayClient
from tests.consumer_fakes import FakeConsumer, FakeMessage, FakeProducer, message_of


class SagaDriver:
    """Routes new published event-store rows to every service subscribed to their topic, batch by batch."""

    def __init__(self, names: tuple[str, ...] = SERVICE_NAMES, *, max_attempts: int = 2) -> None:
        cfg = RuntimeConfig(bootstrap="unused", max_attempts=max_attempts)
        self.producer = FakeProducer()
        self.runtimes = {name: Runtime(load(name), cfg, FakeConsumer(), self.producer, sleep=lambda s: None)
                         for name in names}
        self.position = StoredEvent.objects.order_by("-position").values_list("position", flat=True).first() or 0

    def new_messages(self) -> list[FakeMessage]:
        rows = list(StoredEvent.objects.filter(position__gt=self.position).order_by("position"))
        if rows:
            self.position = rows[-1].position
        return [message_of(row) for row in rows if row.published]  # as the relay's publication filters

    def deliver(self, name: str, messages: list[Any]) -> None:
        """One batch to one service, as its consumer would take it from Kafka."""
        self.runtimes[name].process_batch(messages)

    def pump(self, *, skip: tuple[str, ...] = (), max_rounds: int = 50) -> int:
        """Deliver new events to their subscribers until none are left; returns the events seen."""
        seen = 0
        for _ in range(max_rounds):
            messages = self.new_messages()
            if not messages:
                return seen
            seen += len(messages)
            for name, runtime in self.runtimes.items():
                mine = [m for m in messages if m.topic() in runtime.service.topics]
                if mine and name not in skip:
                    runtime.process_batch(mine)
        raise AssertionError(f"the saga did not settle in {max_rounds} rounds")

    def stats(self, name: str) -> Any:
        return self.runtimes[name].stats


@contextmanager
def gateway_simulator(tmp_path: Path, faults: FaultPlan | None = None) -> Iterator[FaultPlan]:
    """The gateway simulator in a thread, with the payment service's client pointed at it."""
    Handler.ledger = Ledger(tmp_path / "ledger.sqlite3")
    Handler.faults = faults or FaultPlan()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    previous = payment.client
    payment.client = GatewayClient(f"http://127.0.0.1:{server.server_address[1]}", timeout=10.0)
    try:
        yield Handler.faults
    finally:
        payment.client = previous
        server.shutdown()
