"""One middleware for what every request needs observed: its correlation id, its metrics and its
log line (plus one `checkout` line per order placed). Views are unaware of it."""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

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
        with correlated(given) as (cid, accepted):
            # The API reads the header to stamp the events it writes: give it the validated or minted id.
            request.META[correlation.META_KEY] = str(cid)
            response = self.get_response(request)
            response[correlation.HEADER] = str(cid)
            self._observe(request, response, time.perf_counter() - started, replaced=bool(given) and not accepted)
            return response

    @staticmethod
    def _observe(request: HttpRequest, response: HttpResponse, seconds: float, *, replaced: bool) -> None:
        match = getattr(request, "resolver_match", None)
        observe(request.method or "", match.route if match is not None else None, response.status_code, response.headers,
                seconds, replaced=replaced)


@contextmanager
def correlated(given: str | None) -> Iterator[tuple[uuid.UUID, bool]]:
    """The request's correlation id (correlation.accept: the id, whether `given` was used), bound to
    every log line written meanwhile. Also used by the checkout's WSGI entry."""
    cid, accepted = correlation.accept(given)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(correlation_id=str(cid))
    try:
        yield cid, accepted
    finally:
        structlog.contextvars.clear_contextvars()


def observe(method: str, route: str | None, status: int, headers: Mapping[str, str], seconds: float, *,
            replaced: bool) -> None:
    """A finished request's metrics and log lines (`headers`: the response's). Also called by the
    checkout's WSGI entry (orders_site/api/checkout_wsgi.py), which answers without this middleware."""
    http_metrics.observe(method, route, status, seconds)
    if route in QUIET_ROUTES:
        return
    fields = {"method": method, "route": route or http_metrics.UNMATCHED, "status": status,
              "duration_ms": round(seconds * 1000, 1)}
    if replaced:
        fields["correlation_id_replaced"] = True  # the client sent something that is not a UUID
    log.info("request", **fields)
    if route == CHECKOUT_ROUTE and method == "POST":
        outcome = checkout_outcome(status, headers)
        http_metrics.CHECKOUTS.labels(outcome).inc()
        log.info("checkout", order_id=placed_order_id(headers), outcome=outcome, status=status,
                 duration_ms=fields["duration_ms"])


def placed_order_id(headers: Mapping[str, str]) -> str | None:
    """The order a checkout created or replayed, from its `Location: /api/orders/<id>/` header."""
    location = headers.get("Location") or ""
    parts = [p for p in location.split("/") if p]
    return parts[-1] if len(parts) >= 3 and parts[-2] == "orders" else None


def checkout_outcome(status: int, headers: Mapping[str, str]) -> str:
    if status == 201:
        return "placed"
    if headers.get("Idempotent-Replayed") == "true":
        return "replayed"
    return "rejected" if 400 <= status < 500 else "failed"
