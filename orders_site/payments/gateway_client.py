"""HTTP client of the payment gateway. Returns result objects; an unknown outcome (timeout, 5xx,
connection lost) is a result of its own, never an exception and never mistaken for a failure."""
from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Literal

from orders_site.observability.logs import get_logger

log = get_logger("payments.gateway")

Outcome = Literal["captured", "declined", "unknown", "not_found"]


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
    def __init__(self, base_url: str | None = None, timeout: float | None = None) -> None:
        self.base_url = (base_url or os.environ.get("GATEWAY_URL", "http://127.0.0.1:8090")).rstrip("/")
        self.timeout = timeout if timeout is not None else float(os.environ.get("GATEWAY_TIMEOUT", "2.0"))

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

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> tuple[int | None, Any, str]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read() or b"null"), ""
        except urllib.error.HTTPError as err:
            try:
                return err.code, json.loads(err.read() or b"null"), ""
            except ValueError:
                return err.code, None, "unreadable body"
        except (OSError, ValueError) as err:  # timeout, refused, reset, lost response, garbage
            return None, None, f"{type(err).__name__}: {err}"

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
        status, body, detail = self._call("GET", f"/v1/charges?idempotency_key={urllib.request.quote(key)}")
        return self._charge_result(status, body, detail)

    def refund(self, transaction_id: str, reason: str) -> RefundResult:
        status, body, detail = self._call("POST", f"/v1/charges/{transaction_id}/refunds", {"reason": reason})
        if status == 200 and isinstance(body, dict):
            return RefundResult(True, body.get("outcome", ""))
        return RefundResult(False, detail or f"HTTP {status}: {body}")
