"""The payment client against the real simulator (its own HTTP server and SQLite ledger)."""
from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from gateway.__main__ import Handler
from gateway.faults import FaultPlan
from gateway.ledger import Ledger
from orders_site.payments.gateway_client import GatewayClient


class CountingServer(ThreadingHTTPServer):
    """Counts the TCP connections it accepted."""

    connections = 0

    def process_request(self, request, client_address) -> None:  # noqa: ANN001 - socketserver's signature
        type(self).connections += 1
        super().process_request(request, client_address)


@pytest.fixture
def gateway_url(tmp_path: Path) -> Iterator[str]:
    Handler.ledger = Ledger(tmp_path / "ledger.sqlite3")
    Handler.faults = FaultPlan(hang_ms=1500)
    CountingServer.connections = 0
    server = CountingServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def charge(client: GatewayClient, key: str, customer: str = "1"):
    return client.charge(key=key, order_id="o-1", customer_id=customer, amount_minor=500, currency="USD",
                         method="card")


def test_capture_then_the_same_key_replays_without_a_second_charge(gateway_url: str) -> None:
    client = GatewayClient(gateway_url, timeout=1)
    first, second = charge(client, "k1"), charge(client, "k1")
    assert first.outcome == second.outcome == "captured"
    assert first.transaction_id == second.transaction_id
    assert Handler.ledger.summary()["captures"] == 1


@pytest.mark.parametrize(("fault", "outcome", "charged"), [
    ("decline", "declined", False), ("error", "unknown", False), ("lost", "unknown", True), ("hang", "unknown", True),
])
def test_faults_map_to_outcomes_and_lookup_resolves_doubt(gateway_url: str, fault: str, outcome: str,
                                                          charged: bool) -> None:
    client = GatewayClient(gateway_url, timeout=0.5)
    Handler.faults.per_customer["9"] = [fault]
    assert charge(client, "k2", customer="9").outcome == outcome
    looked_up = client.lookup("k2").outcome
    assert looked_up == ("captured" if charged else "declined" if fault == "decline" else "not_found")


def test_calls_share_one_kept_alive_connection_until_a_call_fails(gateway_url: str) -> None:
    client = GatewayClient(gateway_url, timeout=0.5)
    for n in range(5):
        assert charge(client, f"ka{n}").outcome == "captured"
    assert CountingServer.connections == 1
    Handler.faults.per_customer["9"] = ["hang"]
    assert charge(client, "ka-hung", customer="9").outcome == "unknown"
    # The hung call's late answer must not be read as the next call's: that one gets a new connection.
    after = charge(client, "ka-next")
    assert after.outcome == "captured" and after.transaction_id == client.lookup("ka-next").transaction_id
    assert CountingServer.connections == 2


def test_the_simulator_answers_kept_connections_without_nagle_delays(gateway_url: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # A response is written as headers then body; with Nagle on, the body waits for the client's
    # delayed ACK on a kept connection (44 ms per call, measured). So the sockets must say NODELAY.
    seen: list[int] = []
    handle = Handler.handle

    def record(self: Handler) -> None:
        seen.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        handle(self)

    monkeypatch.setattr(Handler, "handle", record)
    client = GatewayClient(gateway_url, timeout=1)
    assert charge(client, "nd1").outcome == charge(client, "nd2").outcome == "captured"
    assert seen and all(seen)


def test_an_idle_connection_is_not_reused(gateway_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    client = GatewayClient(gateway_url, timeout=1)
    charge(client, "idle1")
    monkeypatch.setattr("orders_site.payments.gateway_client.IDLE_REUSE_SECONDS", 0.0)
    charge(client, "idle2")
    assert CountingServer.connections == 2


def test_refund_is_idempotent(gateway_url: str) -> None:
    client = GatewayClient(gateway_url, timeout=1)
    tx = charge(client, "k3").transaction_id
    assert client.refund(tx, "cancelled").refunded and client.refund(tx, "again").refunded
    summary = Handler.ledger.summary()
    assert (summary["refunds"], summary["net_minor"]) == (1, 0)


def test_unreachable_gateway_is_an_unknown_outcome_not_an_exception() -> None:
    assert GatewayClient("http://127.0.0.1:9", timeout=0.5).charge(
        key="k", order_id="o", customer_id="1", amount_minor=1, currency="USD", method="card").outcome == "unknown"


@pytest.mark.parametrize("faults", [["lots"], "lost", ["lost", 7]])
def test_an_unknown_fault_is_refused_and_nothing_is_queued(gateway_url: str, faults: object) -> None:
    request = urllib.request.Request(f"{gateway_url}/v1/_faults", method="POST",
                                     data=json.dumps({"customer_id": "5", "faults": faults}).encode(),
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 400 and b"unknown fault" in refused.value.read()
    assert Handler.faults.per_customer.get("5") is None
