"""HTTP client of the payment gateway. Returns result objects; an unknown outcome (timeout, 5xx,
connection lost) is a result of its own, never an exception and never mistaken for a failure."""
from __future__ import annotations

import json
import os
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Literal

from orders_site.observability.logs import get_logger

from .http_connection import HttpConnection, HttpError

log = get_logger("payments.gateway")

Outcome = Literal["captured", "declined", "unknown", "not_found"]
# A kept-alive connection idle for longer than this is closed rather than reused: a server may have
# dropped it meanwhile, and a request written into a dropped connection fails with an unknown outcome
# (the payment goes IN_DOUBT until the reconciler asks). Servers keep idle connections for longer.
IDLE_REUSE_SECONDS = 2.0


@dataclass(frozen=True)
class ChargeResult:
    outcome: Outcome
    transaction_id: str = ""
    decline_code: str = ""
    detail: str = ""


@dataclass(frozen=True)
class RefundResult:
    refunded: bool  # True also when it had been refunded before (idempotent)
    detail: str = ""


class GatewayClient:
    """Calls the gateway over kept-alive HTTP/1.1 connections (http_connection), one per calling
    thread (the payment service calls from a pool of threads): a new TCP connection per call cost
    the consumer and the simulator more CPU than the call itself (docs/benchmarks.md, "Saga, third
    pass")."""

    def __init__(self, base_url: str | None = None, timeout: float | None = None) -> None:
        self.base_url = (base_url or os.environ.get("GATEWAY_URL", "http://127.0.0.1:8090")).rstrip("/")
        self.timeout = timeout if timeout is not None else float(os.environ.get("GATEWAY_TIMEOUT", "2.0"))
        url = urllib.parse.urlsplit(self.base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"gateway URL must be http(s)://host[:port][/path], not {self.base_url!r}")
        self._https, self._host, self._port, self._prefix = url.scheme == "https", url.hostname, url.port, url.path
        self._local = threading.local()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int | None, Any, str]:
        """One HTTP call, and one `gateway_call` log line (the consumer's correlation context adds
        the event's ids to it)."""
        started = time.perf_counter()
        status, answer, detail = self._send(method, path, body)
        extra = {"order_id": body["order_id"]} if body and "order_id" in body else {}
        log.info("gateway_call", method=method, path=path.split("?")[0], status=status,
                 outcome=(answer or {}).get("status", "") if isinstance(answer, dict) else "",
                 error=detail or None, duration_ms=round((time.perf_counter() - started) * 1000, 1), **extra)
        return status, answer, detail

    def _connection(self) -> HttpConnection:
        """This thread's connection: kept from its last call unless idle too long (IDLE_REUSE_SECONDS)."""
        conn: HttpConnection | None = getattr(self._local, "conn", None)
        if conn is not None and time.monotonic() - conn.used > IDLE_REUSE_SECONDS:
            conn.close()
            conn = None
        if conn is None:
            conn = self._local.conn = HttpConnection(self._host, self._port, https=self._https, timeout=self.timeout)
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> tuple[int | None, Any, str]:
        # No retry on a failed call, not even on a reused connection: a charge whose response was
        # lost may have been made, so the answer is "unknown" and the reconciler asks by key.
        data = json.dumps(body).encode() if body is not None else None
        try:
            status, raw, keep = self._connection().request(method, self._prefix + path, data)
            if not keep:
                self._drop_connection()
        except (OSError, HttpError, ValueError) as err:  # timeout, refused, reset, lost or garbled response
            self._drop_connection()  # its state is unknown; a late answer must not meet the next call
            return None, None, f"{type(err).__name__}: {err}"
        try:
            return status, json.loads(raw or b"null"), ""
        except ValueError as err:
            # A garbled success is an unknown outcome; a garbled refusal is still a refusal.
            return (None, None, f"ValueError: {err}") if 200 <= status < 300 else (status, None, "unreadable body")

    @staticmethod
    def _charge_result(status: int | None, body: Any, detail: str) -> ChargeResult:
        if status in (200, 201) and isinstance(body, dict) and body.get("status") == "captured":
            return ChargeResult("captured", transaction_id=body["id"])
        if status in (200, 402) and isinstance(body, dict) and body.get("status") == "declined":
            return ChargeResult("declined", transaction_id=body["id"], decline_code=body.get("decline_code") or "")
        if status == 404:
            return ChargeResult("not_found")
        return ChargeResult("unknown", detail=detail or f"HTTP {status}")

    def charge(self, *, key: str, order_id: str, customer_id: str, amount_minor: int, currency: str,
               method: str) -> ChargeResult:
        status, body, detail = self._call("POST", "/v1/charges", {
            "idempotency_key": key, "order_id": order_id, "customer_id": customer_id,
            "amount_minor": amount_minor, "currency": currency, "method": method})
        return self._charge_result(status, body, detail)

    def lookup(self, key: str) -> ChargeResult:
        """What happened to the charge made with `key` (not_found: it never reached the gateway)."""
        status, body, detail = self._call("GET", f"/v1/charges?idempotency_key={urllib.parse.quote(key)}")
        return self._charge_result(status, body, detail)

    def refund(self, transaction_id: str, reason: str) -> RefundResult:
        path = f"/v1/charges/{urllib.parse.quote(transaction_id, safe='')}/refunds"
        status, body, detail = self._call("POST", path, {"reason": reason})
        if status == 200 and isinstance(body, dict):
            return RefundResult(True, body.get("outcome", ""))
        return RefundResult(False, detail or f"HTTP {status}: {body}")
