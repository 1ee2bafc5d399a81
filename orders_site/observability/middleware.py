"""One middleware for what every request needs observed: its correlation id, its metrics and its
log line (plus one `checkout` line per order placed). Views are unaware of it."""
from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from django.http import HttpRequest, HttpResponse

from . import correlation, http_metrics, logs

log = logs.get_logger("orders.http")

CHECKOUT_ROUTE = "api/orders/"
QUIET_ROUTES = frozenset({"metrics", "healthz", "readyz"})  # scraped every few seconds: no log line


class RequestObservability:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        given = request.META.get(correlation.META_KEY)
        cid, accepted = correlation.accept(given)
        # The API reads the header to stamp the events it writes: give it the validated or minted id.
        request.META[correlation.META_KEY] = str(cid)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(correlation_id=str(cid))
        try:
            response = self.get_response(request)
            response[correlation.HEADER] = str(cid)
            self._observe(request, response, time.perf_counter() - started, replaced=bool(given) and not accepted)
            return response
        finally:
            structlog.contextvars.clear_contextvars()

    @staticmethod
    def _observe(request: HttpRequest, response: HttpResponse, seconds: float, *, replaced: bool) -> None:
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None else None
        http_metrics.observe(request.method or "", route, response.status_code, seconds)
        if route in QUIET_ROUTES:
            return
        fields = {"method": request.method, "route": route or http_metrics.UNMATCHED, "status": response.status_code,
                  "duration_ms": round(seconds * 1000, 1)}
        if replaced:
            fields["correlation_id_replaced"] = True  # the client sent something that is not a UUID
        log.info("request", **fields)
        if route == CHECKOUT_ROUTE and request.method == "POST":
            outcome = checkout_outcome(response)
            http_metrics.CHECKOUTS.labels(outcome).inc()
            order_id = placed_order_id(response)
            log.info("checkout", order_id=order_id, outcome=outcome, status=response.status_code,
                     duration_ms=fields["duration_ms"])


def placed_order_id(response: HttpResponse) -> str | None:
    """The order a checkout created or replayed, from its `Location: /api/orders/<id>/` header."""
    location = response.get("Location") or ""
    parts = [p for p in location.split("/") if p]
    return parts[-1] if len(parts) >= 3 and parts[-2] == "orders" else None


def checkout_outcome(response: HttpResponse) -> str:
    if response.status_code == 201:
        return "placed"
    if response.get("Idempotent-Replayed") == "true":
        return "replayed"
    return "rejected" if 400 <= response.status_code < 500 else "failed"
