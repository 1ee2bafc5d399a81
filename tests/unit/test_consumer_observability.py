"""consumers/observability.py's pure parts: ports, librdkafka statistics, outcomes, liveness."""
from __future__ import annotations

import json

import pytest

from consumers import observability
from consumers.registry import SERVICE_NAMES as SERVICES


def test_each_service_gets_its_own_port_and_zero_turns_them_off() -> None:
    ports = [observability.port_for(s, {"CONSUMER_METRICS_PORT": "9300"}) for s in SERVICES]
    assert ports == list(range(9300, 9300 + len(SERVICES)))
    assert observability.port_for("stock", {}) == observability.DEFAULT_PORT_BASE + SERVICES.index("stock")
    assert observability.port_for("stock", {"CONSUMER_METRICS_PORT": "0"}) == 0


def test_statistics_give_lag_of_assigned_partitions_broker_and_group_state() -> None:
    raw = json.dumps({
        "brokers": {"127.0.0.1:9092/1": {"state": "UP", "nodeid": 1},
                    "GroupCoordinator": {"state": "UP", "nodeid": -1}},
        "cgrp": {"state": "up", "assignment_size": 2},
        "topics": {"shop.order.events": {"partitions": {
            "0": {"consumer_lag": 7, "hi_offset": 20, "fetch_state": "active"},
            "1": {"consumer_lag": 0, "hi_offset": 3, "fetch_state": "active"},
            # never committed: empty, and holding 5 messages from offset 2 on
            "2": {"consumer_lag": -1, "hi_offset": 0, "committed_offset": -1001, "fetch_state": "active"},
            "3": {"consumer_lag": -1, "hi_offset": 7, "lo_offset": 2, "committed_offset": -1001, "fetch_state": "active"},
            "4": {"consumer_lag": -1, "hi_offset": -1001, "fetch_state": "none"},  # not assigned here
            "-1": {"consumer_lag": -1, "hi_offset": -1001, "fetch_state": "none"}}}},
    })
    view = observability.LibrdkafkaView.parse(raw, now=12.0)
    assert view.lag == {("shop.order.events", 0): 7, ("shop.order.events", 1): 0, ("shop.order.events", 2): 0,
                        ("shop.order.events", 3): 5}
    assert (view.brokers_up, view.group_state, view.assigned, view.at) == (1, "up", 2, 12.0)


def test_the_loop_is_alive_while_statistics_keep_arriving() -> None:
    observability.STATE.view = observability.LibrdkafkaView(at=100.0)
    assert observability.alive(now=110.0)[0]
    assert not observability.alive(now=100.0 + observability.STALL_AFTER + 1)[0]


class _Msg:
    def __init__(self, event_type: bytes) -> None:
        self.event_type = event_type

    def headers(self) -> list[tuple[str, bytes]]:
        return [("eventType", self.event_type), ("id", b"00000000-0000-0000-0000-000000000001")]

    def key(self) -> bytes:
        return b"order-1"

    def topic(self) -> str:
        return "shop.order.events"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 7


def test_the_observer_reports_each_events_outcome() -> None:
    from prometheus_client import REGISTRY

    def count(event_type: str, outcome: str) -> float:
        return REGISTRY.get_sample_value("orders_consumer_events_total", {
            "consumer": "unit", "event_type": event_type, "outcome": outcome}) or 0.0

    before = (count("StockHeld", "processed"), count("StockHeld", "duplicate"), count("unknown", "ignored"))
    observability.ConsumerObserver("unit").batch([(_Msg(b"StockHeld"), "processed"), (_Msg(b"StockHeld"), "processed"),
                                                  (_Msg(b"StockHeld"), "duplicate"), (_Msg(b""), "ignored")], 0.01)
    after = (count("StockHeld", "processed"), count("StockHeld", "duplicate"), count("unknown", "ignored"))
    assert [a - b for a, b in zip(after, before)] == [2, 1, 1]


def test_a_busy_metrics_port_is_taken_over_once_it_is_free() -> None:
    import socket
    import threading
    import urllib.error
    import urllib.request

    from stack.harness import free_port

    # given a port another process holds
    port = free_port()
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", port))
    holder.listen()
    assert not observability._try_serve("127.0.0.1", port, quiet=True)
    # when it is released while the consumer keeps trying
    threading.Thread(target=observability._keep_trying, args=("127.0.0.1", port, 0.05), daemon=True).start()
    holder.close()
    # then the consumer serves its health there
    from stack.harness import wait_for

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return True
        except urllib.error.HTTPError:  # 503 "stalled" is an answer too (no loop runs in this test)
            return True
        except OSError:
            return False
    wait_for(answers, 10, "the metrics server on the freed port")


@pytest.mark.parametrize("as_json", [False, True])
def test_a_batch_of_lines_reads_exactly_as_structlog_writes_them(monkeypatch, as_json: bool) -> None:
    import io
    import re

    import structlog

    from orders_site.observability import logs

    out = io.StringIO()
    monkeypatch.setattr("sys.stderr", out)
    try:
        logs.configure(process="consumer-unit", json=as_json)
        structlog.contextvars.bind_contextvars(correlation_id="from-context", event_id="e-ctx")
        fields = {"consumer": "unit", "outcome": "processed", "duration_ms": 1.5, "topic": "t", "partition": 0,
                  "offset": 7, "event_id": "e-1", "event_type": "StockHeld", "order_id": None}
        logs.get_logger("consumers.events").info("event_handled", **fields)
        logs.info_lines("consumers.events", "event_handled", [fields, {**fields, "offset": 8}])
        one, *batch = out.getvalue().splitlines()
        without_time = re.compile(r'\d{4}-\d\d-\d\dT[\d:.]+Z')
        assert len(batch) == 2 and without_time.sub("T", batch[0]) == without_time.sub("T", one)
        second = json.loads(batch[1]) if as_json else batch[1]
        assert second == ({**json.loads(batch[0]), "offset": 8} if as_json else batch[0].replace("offset=7", "offset=8"))
        out.truncate(0)
        out.seek(0)
        logs.configure(process="consumer-unit", level="WARNING")
        logs.info_lines("consumers.events", "event_handled", [fields])
        assert out.getvalue() == ""
    finally:
        structlog.contextvars.clear_contextvars()
        logs.configure()
