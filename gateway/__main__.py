"""`python -m gateway [--host H] [--port P] [--ledger PATH] [--faults SPEC]`: run the PG simulator.

API (JSON):
  POST /v1/charges                 {idempotency_key, order_id, customer_id, amount_minor, currency, method}
                                   201 captured | 402 declined | 200 replay of the same key | 422 key reused
  GET  /v1/charges?idempotency_key=K   the charge made with that key, or 404 (how clients resolve doubt)
  POST /v1/charges/<id>/refunds    {reason} full refund, at most once
  GET  /v1/ledger                  totals: captured, refunded, captures per order
  POST /v1/_faults                 {"customer_id": "7", "faults": ["lost"]} or {"rates": "decline=0.1,hang=0.02"}
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from .faults import KINDS, FaultPlan
from .ledger import Ledger

REFUND_PATH = re.compile(r"^/v1/charges/(ch_[0-9a-f]+)/refunds$")
DECLINE_CODE = "insufficient_funds"


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default listen backlog is 5. The payment service opens up to eight connections
    # at once per batch (and the reconciler more); on a busy machine the accepting thread falls
    # behind, the kernel drops the extra SYNs, and each such call waits for the client's SYN
    # retransmission: ~1 s. Measured: 0.1 % of charges took 1.0 s, which held up their whole batch
    # and made the saga's completion p99 ~2.5 s at 50 orders/s (docs/benchmarks.md, "Saga").
    request_queue_size = 128


class Handler(BaseHTTPRequestHandler):
    ledger: Ledger
    faults: FaultPlan
    protocol_version = "HTTP/1.1"
    # The payment service keeps its connections alive. A response goes out as two writes (headers, then
    # body); with Nagle's algorithm the second waits for the client's ACK of the first, which a kept
    # connection delays by up to 40 ms: every call after a connection's first took 44 ms (measured).
    disable_nagle_algorithm = True

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet: one line per charge is logged below
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def _body(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            return data if isinstance(data, dict) else None
        except ValueError:
            return None

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/healthz":
            return self._send(200, {"ok": True})
        if url.path == "/v1/ledger":
            return self._send(200, self.ledger.summary() | {"faults_injected": self.faults.injected})
        if url.path == "/v1/charges":
            key = parse_qs(url.query).get("idempotency_key", [None])[0]
            if key is None:
                return self._send(200, {"charges": self.ledger.charges()})
            charge = self.ledger.by_key(key)
            return self._send(200, charge.as_json()) if charge else self._send(404, {"error": "no charge with that key"})
        self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        body = self._body()
        if body is None:
            return self._send(400, {"error": "body must be a JSON object"})
        path = urlparse(self.path).path
        if path == "/v1/charges":
            return self._charge(body)
        if path == "/v1/_faults":
            return self._configure(body)
        match = REFUND_PATH.match(path)
        if match:
            charge, outcome = self.ledger.refund(match[1], str(body.get("reason", "")))
            status = {"refunded": 200, "already_refunded": 200, "not_found": 404, "not_captured": 409}[outcome]
            return self._send(status, {"outcome": outcome, "charge": charge.as_json() if charge else None})
        self._send(404, {"error": "not found"})

    def _configure(self, body: dict[str, Any]) -> None:
        try:
            if "rates" in body:
                self.faults.rates = FaultPlan.parse_rates(str(body["rates"]))
            if "customer_id" in body:
                faults = body.get("faults", [])
                unknown = [f for f in faults if f not in KINDS] if isinstance(faults, list) else [faults]
                if unknown:
                    raise ValueError(f"unknown fault(s) {unknown}: use a list of {', '.join(KINDS)}")
                self.faults.per_customer.setdefault(str(body["customer_id"]), []).extend(faults)
        except ValueError as err:
            return self._send(400, {"error": str(err)})
        self._send(200, {"rates": self.faults.rates, "per_customer": self.faults.per_customer})

    def _charge(self, body: dict[str, Any]) -> None:
        required = ("idempotency_key", "order_id", "amount_minor", "currency", "method")
        if any(k not in body for k in required) or not isinstance(body["amount_minor"], int) or body["amount_minor"] <= 0:
            return self._send(400, {"error": f"required: {', '.join(required)}; amount_minor a positive integer"})
        existing = self.ledger.by_key(body["idempotency_key"])
        if existing:
            if (existing.order_id, existing.amount_minor) != (body["order_id"], body["amount_minor"]):
                return self._send(422, {"error": "idempotency key reused for a different charge"})
            return self._send(201 if existing.status == "captured" else 402, existing.as_json(),
                              {"Idempotent-Replayed": "true"})
        fault = self.faults.pick(str(body.get("customer_id") or ""))
        if fault == "error":
            return self._send(503, {"error": "gateway temporarily unavailable"})
        if fault == "latency":
            time.sleep(self.faults.latency_ms / 1000)
        declined = fault == "decline"
        charge, _ = self.ledger.charge(body["idempotency_key"], body["order_id"], body.get("customer_id"),
                                       body["amount_minor"], body["currency"], body["method"],
                                       "declined" if declined else "captured", DECLINE_CODE if declined else None)
        print(f"[gateway] {charge.status} {charge.id} order={charge.order_id} amount={charge.amount_minor}"
              f"{' fault=' + fault if fault else ''}", flush=True)
        if fault == "lost":  # charged, but the answer never arrives
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if fault == "hang":  # charged, answered long after the client stopped waiting
            time.sleep(self.faults.hang_ms / 1000)
        self._send(402 if declined else 201, charge.as_json())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=os.environ.get("GATEWAY_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GATEWAY_PORT", "8090")))
    data_dir = Path(os.environ.get("ORDERS_DATA_DIR", Path(__file__).resolve().parent.parent / ".data"))
    parser.add_argument("--ledger", type=Path, default=data_dir / "gateway" / "ledger.sqlite3")
    parser.add_argument("--faults", default=os.environ.get("GATEWAY_FAULTS", ""),
                        help="fault rates, e.g. decline=0.1,hang=0.02,error=0.05,lost=0.05,latency=0.1")
    args = parser.parse_args(argv)
    Handler.ledger = Ledger(args.ledger)
    Handler.faults = FaultPlan(rates=FaultPlan.parse_rates(args.faults))
    server = Server((args.host, args.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"[gateway] listening on http://{args.host}:{args.port}, ledger {args.ledger}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
