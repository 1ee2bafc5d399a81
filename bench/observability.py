"""`python -m bench.observability`: what the consumer instrumentation costs per event, in process.

Times the consumer loop's observer (`consumers/observability.ConsumerObserver`: metrics and the event's
log line) over batches of applied events against the same loop without it, in one run, with the log line rendered
for the console and as JSON into /dev/null. No stack needed: a message object stands in for
confluent-kafka's (this measures our code, not the broker).
"""
from __future__ import annotations

import os
import sys
import time
import uuid

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orders_site.settings")


class Message:
    def __init__(self) -> None:
        self._headers = [("id", str(uuid.uuid4()).encode()), ("eventType", b"OrderCreated"),
                         ("correlationId", str(uuid.uuid4()).encode())]
        self._key = str(uuid.uuid4()).encode()

    def headers(self) -> list[tuple[str, bytes]]:
        return self._headers

    def key(self) -> bytes:
        return self._key

    def topic(self) -> str:
        return "shop.order.events"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 42


def per_event_us(n: int, instrumented: bool, batch: int = 20) -> float:
    from consumers import observability

    observer = observability.ConsumerObserver("stock")
    msgs = [Message() for _ in range(1000)]
    started = time.perf_counter()
    for i in range(0, n, batch):
        outcomes = [(msgs[(i + j) % 1000], "processed") for j in range(batch)]
        if instrumented:
            observer.batch(outcomes, 0.001)
    return (time.perf_counter() - started) / n * 1e6


def main() -> int:
    import django

    django.setup()
    from orders_site.observability import logs

    n = 20000
    rows = []
    real_stderr, devnull = sys.stderr, open(os.devnull, "w")
    try:
        for fmt in ("console", "json"):
            sys.stderr = devnull  # both structlog's writer and the stdlib handler bind it at set-up
            logs.configure(process="bench", json=fmt == "json")
            bare, timed = per_event_us(n, False), per_event_us(n, True)
            rows.append((fmt, bare, timed))
    finally:
        sys.stderr = real_stderr
    print(f"consumer instrumentation, {n} events per figure (python_loop reference below)")
    for fmt, bare, timed in rows:
        print(f"  log format {fmt:<8} without: {bare:7.2f} us/event   with: {timed:7.2f} us/event   "
              f"cost: {timed - bare:6.1f} us/event")
    started = time.perf_counter()
    sum(i * i for i in range(3_000_000))
    print(f"  python_loop_seconds {time.perf_counter() - started:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
