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
from orders_site.payments.http_connection import HttpConnection


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


class ScriptedServer:
    """A TCP server that answers each request on a connection with the next scripted bytes, then
    closes the connection if the script says so. Counts connections; records the requests' heads."""

    def __init__(self, answers: list[tuple[bytes, bool]]) -> None:
        self.answers, self.connections, self.heads = list(answers), 0, []
        self.sock = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while self.answers:
            conn, _ = self.sock.accept()
            self.connections += 1
            with conn:
                while self.answers:
                    data = conn.recv(65536)
                    if not data:
                        break
                    self.heads.append(data.split(b"\r\n\r\n")[0])
                    answer, close = self.answers.pop(0)
                    conn.sendall(answer)
                    if close:
                        break


CAPTURED = b'{"status": "captured", "id": "ch_1"}'


def test_a_chunked_response_is_read_whole_and_the_connection_kept() -> None:
    chunked = (b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (CAPTURED[:10], CAPTURED[10:])) + b"0\r\n\r\n")
    server = ScriptedServer([(chunked, False), (chunked, False)])
    client = GatewayClient(server.url, timeout=1)
    assert [charge(client, k).transaction_id for k in ("c1", "c2")] == ["ch_1", "ch_1"]
    assert server.connections == 1
    assert server.heads[0].startswith(b"POST /v1/charges HTTP/1.1\r\nHost: 127.0.0.1:")


def test_connection_close_is_honoured_and_the_next_call_connects_again() -> None:
    closing = b"HTTP/1.1 201 Created\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(CAPTURED), CAPTURED)
    server = ScriptedServer([(closing, True), (closing, True)])
    client = GatewayClient(server.url, timeout=1)
    assert charge(client, "x1").outcome == charge(client, "x2").outcome == "captured"
    assert server.connections == 2


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 201 Created\r\nContent-Length: 200\r\n\r\n" + CAPTURED,  # cut short, then closed
    b"HTTP/1.1 201 Created\r\n\r\n" + CAPTURED,  # a body only the close would end
    b"garbage\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n" + b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n%s" % (len(CAPTURED), CAPTURED),
    (b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n%s" % (len(CAPTURED), CAPTURED)) * 2,
])
def test_a_response_cut_short_or_garbled_is_an_unknown_outcome(answer: bytes) -> None:
    server = ScriptedServer([(answer, True)])
    result = charge(GatewayClient(server.url, timeout=1), "g1")
    assert result.outcome == "unknown" and result.detail


def test_after_a_response_out_of_step_the_next_call_gets_a_new_connection() -> None:
    # An unasked-for 100 Continue: on a kept connection the real answer that follows it would be read
    # by the next call as its own (another charge's transaction id). So the connection is dropped.
    other = b'{"status": "captured", "id": "ch_2"}'
    server = ScriptedServer([(b"HTTP/1.1 100 Continue\r\n\r\n", False),
                             (b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n%s" % (len(other), other), False)])
    client = GatewayClient(server.url, timeout=1)
    assert charge(client, "s1").outcome == "unknown"
    assert charge(client, "s2").transaction_id == "ch_2" and server.connections == 2


def test_ids_are_quoted_into_the_path_and_a_raw_control_character_is_never_sent() -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    server = ScriptedServer([(ok, False), (ok, False)])
    client = GatewayClient(server.url, timeout=1)
    client.lookup("k\r\nX-Forged: 1")
    client.refund("ch_1\r\nX-Forged: 1", "r")
    lines = [line for head in server.heads for line in head.split(b"\r\n")]
    assert len(server.heads) == 2 and not any(line.startswith(b"X-Forged") for line in lines)
    assert all(b"%0D%0AX-Forged" in head.split(b"\r\n")[0] for head in server.heads)
    with pytest.raises(ValueError):
        HttpConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), https=False, timeout=1).request(
            "GET", "/v1/charges/a\r\nX-Forged: 1", None)
