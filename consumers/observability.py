"""Everything a consumer process exposes about itself: metrics, health and one log line per event.

The runtime calls a small API and knows nothing else of it:
  - `start(service)` once, before the loop: logging set-up and the HTTP server (/metrics, /healthz,
    /readyz) on the consumer's port;
  - `kafka_settings()`: merged into the consumer's settings; librdkafka then reports its statistics
    (lag per assigned partition, broker and group state) every few seconds from inside `poll()`,
    which also tells /healthz that the loop is turning;
  - `ConsumerObserver(service)`, the loop's observer: per finished batch its size and each message's
    outcome (count, handle time, one `event_handled` line), and each retried attempt.
Metrics (docs/operations.md, "Metrics"): orders_consumer_events_total{consumer,event_type,outcome},
orders_consumer_handle_seconds{consumer,event_type}, orders_consumer_retries_total{consumer},
orders_consumer_batch_size{consumer}, orders_consumer_lag{consumer,topic,partition}.
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from orders_site.observability.logs import get_logger, info_lines

from .registry import SERVICE_NAMES as SERVICES

LOGGER = "consumers.events"
log = get_logger(LOGGER)

DEFAULT_PORT_BASE = 9191  # consumer i of SERVICES listens on base + i (9191..9195)
STATS_INTERVAL_MS = 5000
STALL_AFTER = 30.0  # seconds without a poll before /healthz says the loop is stuck
RETRY_BIND_EVERY = 3.0  # seconds between attempts to take a metrics port that was busy

EVENTS = Counter("orders_consumer_events_total", "Events a consumer finished with, by type and outcome "
                 "(processed, duplicate, ignored, dead_lettered)", ["consumer", "event_type", "outcome"])
HANDLE_SECONDS = Histogram("orders_consumer_handle_seconds", "Time from the poll that took an event to its batch's commit",
                           ["consumer", "event_type"],
                           buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0))
RETRIES = Counter("orders_consumer_retries_total", "Handler attempts retried (transient error or failure)",
                  ["consumer"])
BATCH_SIZE = Histogram("orders_consumer_batch_size", "Messages handed to the runtime by one poll", ["consumer"],
                       buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000))


def port_for(service: str, environ: dict[str, str] | None = None) -> int:
    """The service's HTTP port: CONSUMER_METRICS_PORT + its index in SERVICES; 0 turns the server off."""
    base = int((environ if environ is not None else os.environ).get("CONSUMER_METRICS_PORT") or DEFAULT_PORT_BASE)
    return 0 if base == 0 else base + SERVICES.index(service)


@dataclass
class LibrdkafkaView:
    """What the last statistics report said (written by the poll thread, read by the HTTP thread)."""

    at: float = 0.0
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    brokers_up: int = 0
    group_state: str = ""
    assigned: int = 0

    @classmethod
    def parse(cls, raw: str, now: float) -> "LibrdkafkaView":
        stats = json.loads(raw)
        lag = {(topic, int(p)): partition_lag(part)
               for topic, t in stats.get("topics", {}).items()
               for p, part in t.get("partitions", {}).items()
               if int(p) >= 0 and part.get("fetch_state") == "active" and part.get("hi_offset", -1) >= 0}
        brokers_up = sum(1 for b in stats.get("brokers", {}).values()
                         if b.get("state") == "UP" and b.get("nodeid", -1) >= 0)
        cgrp = stats.get("cgrp", {})
        return cls(now, lag, brokers_up, cgrp.get("state", ""), int(cgrp.get("assignment_size", 0)))


def partition_lag(part: dict[str, Any]) -> int:
    """librdkafka's consumer_lag, which is -1 until the group committed on the partition; then the
    end offset less where reading starts (an empty partition: 0)."""
    if part.get("consumer_lag", -1) >= 0:
        return int(part["consumer_lag"])
    start = max(part.get("committed_offset", -1), part.get("lo_offset", -1), 0)
    return max(int(part["hi_offset"]) - start, 0)


class _State:
    service = ""
    started = time.monotonic()
    view = LibrdkafkaView()


STATE = _State()


class LagCollector(Collector):
    """orders_consumer_lag from the last statistics report: only the partitions this member owns."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("orders_consumer_lag", "Messages behind the end of an assigned partition "
                                   "(librdkafka's view, refreshed every 5 s)", labels=["consumer", "topic", "partition"])
        for (topic, partition), lag in sorted(STATE.view.lag.items()):
            family.add_metric([STATE.service, topic, str(partition)], lag)
        yield family


def on_stats(raw: str) -> None:
    try:
        STATE.view = LibrdkafkaView.parse(raw, time.monotonic())
    except (ValueError, KeyError, TypeError) as err:  # a report we cannot read must not stop the loop
        log.warning("librdkafka statistics unreadable", error=str(err))


def kafka_settings() -> dict[str, Any]:
    return {"statistics.interval.ms": STATS_INTERVAL_MS, "stats_cb": on_stats}


# -- one message -----------------------------------------------------------------------------------
def _headers(msg: Any) -> dict[str, str]:
    wanted = {"id": "event_id", "eventType": "event_type", "correlationId": "correlation_id"}
    out = {}
    for key, value in msg.headers() or []:
        if key in wanted and value:
            out[wanted[key]] = value.decode(errors="replace")
    return out


def _event_type(msg: Any) -> str:
    for key, value in msg.headers() or ():
        if key == "eventType" and value:
            return value.decode(errors="replace")
    return "unknown"


class ConsumerObserver:
    """The consumer loop's observer (consumers/runtime.py: Observer): per batch its size and each
    event's outcome, count and log line (ignored events are counted without a line and not timed:
    most of what a service reads, they would drag the handle-time histogram towards zero).

    Counts are added up per batch and each metric's labelled child is looked up once per process:
    per event, the lookups and the lazy logger cost more than the line itself (docs/benchmarks.md,
    "Saga, third pass"). A batch's lines are written together (logs.info_lines), the same lines
    structlog would write."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._counters: dict[tuple[str, str], Any] = {}
        self._timers: dict[str, Any] = {}

    def _counter(self, event_type: str, outcome: str) -> Any:
        child = self._counters.get((event_type, outcome))
        if child is None:
            child = self._counters[(event_type, outcome)] = EVENTS.labels(self.service, event_type, outcome)
        return child

    def _timer(self, event_type: str) -> Any:
        child = self._timers.get(event_type)
        if child is None:
            child = self._timers[event_type] = HANDLE_SECONDS.labels(self.service, event_type)
        return child

    def batch(self, outcomes: list[tuple[Any, str]], seconds: float) -> None:
        batch_received(self.service, len(outcomes))
        counts: dict[tuple[str, str], int] = {}
        duration_ms = round(seconds * 1000, 2)
        lines: list[dict[str, Any]] = []
        for msg, outcome in outcomes:
            if outcome == "ignored":  # most of what a service reads: counted by type, nothing else
                event_type = _event_type(msg)
                counts[(event_type, outcome)] = counts.get((event_type, outcome), 0) + 1
                continue
            fields: dict[str, object] = {"event_type": "unknown", **_headers(msg)}
            event_type = str(fields["event_type"])
            counts[(event_type, outcome)] = counts.get((event_type, outcome), 0) + 1
            self._timer(event_type).observe(seconds)
            key = msg.key()
            fields["order_id"] = key.decode(errors="replace") if key else None  # every saga event is keyed by its order
            lines.append({"consumer": self.service, "outcome": outcome, "duration_ms": duration_ms,
                          "topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset(), **fields})
        info_lines(LOGGER, "event_handled", lines)
        for (event_type, outcome), n in counts.items():
            self._counter(event_type, outcome).inc(n)

    def retried(self) -> None:
        retried(self.service)


def retried(service: str, attempts: int = 1) -> None:
    RETRIES.labels(service).inc(attempts)


def batch_received(service: str, size: int) -> None:
    BATCH_SIZE.labels(service).observe(size)


# -- health ----------------------------------------------------------------------------------------
def alive(now: float | None = None) -> tuple[bool, str]:
    """The loop polled recently (statistics arrive only from inside poll())."""
    now = time.monotonic() if now is None else now
    last = STATE.view.at or STATE.started
    quiet = now - last
    return quiet < STALL_AFTER, f"last poll {quiet:.1f} s ago"


def readiness() -> tuple[int, dict[str, object]]:
    from django.db import connection

    from orders_site.observability import health

    def broker() -> health.Check:
        ok = STATE.view.brokers_up > 0
        return health.Check("broker", ok, "" if ok else "no broker connection is up (librdkafka statistics)")

    def group() -> health.Check:
        ok = STATE.view.group_state == "up"
        return health.Check("group", ok, "" if ok else f"consumer group state {STATE.view.group_state or 'unknown'}")

    try:
        return health.run_checks([health.check_database, broker, group])
    finally:
        connection.close()  # this is the HTTP thread's own connection; do not keep it


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.path == "/metrics":
            self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
        elif self.path == "/healthz":
            ok, detail = alive()
            self._json(200 if ok else 503, {"status": "alive" if ok else "stalled", "detail": detail})
        elif self.path == "/readyz":
            code, body = readiness()
            self._json(code, body)
        else:
            self._json(404, {"detail": "not found; try /metrics, /healthz or /readyz"})

    def _json(self, code: int, body: dict[str, object]) -> None:
        self._send(code, json.dumps(body).encode(), "application/json")

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:  # scrapes every few seconds would flood the log
        pass


def serve(port: int, host: str = "") -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="observability-http", daemon=True).start()
    return server


def start(service: str) -> None:
    """Set up logging for the consumer `service` and serve /metrics, /healthz and /readyz on its port.

    A port already taken (a second member of the same service on one machine, or a predecessor still
    exiting) is logged and retried every few seconds in the background: the consumer works meanwhile,
    and takes the port over once it is free. Observability never stops the work."""
    from orders_site.observability import logs

    STATE.service, STATE.started = service, time.monotonic()
    logs.configure(process=f"consumer-{service}")
    REGISTRY.register(LagCollector())  # here, not at import: the web app imports this module too
    port = port_for(service)
    if port == 0:
        return
    host = os.environ.get("CONSUMER_METRICS_HOST", "127.0.0.1")
    if not _try_serve(host, port, quiet=False):
        threading.Thread(target=_keep_trying, args=(host, port), name="observability-bind", daemon=True).start()


def _try_serve(host: str, port: int, *, quiet: bool) -> bool:
    try:
        serve(port, host)
    except OSError as err:
        if not quiet:
            log.warning("metrics port unavailable; retrying in the background", port=port, error=str(err))
        return False
    log.info("observability listening", url=f"http://{host}:{port}/metrics")
    return True


def _keep_trying(host: str, port: int, every: float = RETRY_BIND_EVERY) -> None:
    while not _try_serve(host, port, quiet=True):
        time.sleep(every)
