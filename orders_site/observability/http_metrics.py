"""The web app's own metrics: requests by route template and status, and their latency.

With several web worker processes each counts its own requests; with
PROMETHEUS_MULTIPROC_DIR set (stack/web.py sets it) prometheus-client writes them to files there and
`/metrics` adds them up, whichever worker answers the scrape.
"""
from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter("orders_http_requests_total", "HTTP requests answered, by method, route template and status",
                   ["method", "route", "status"])
LATENCY = Histogram("orders_http_request_duration_seconds", "HTTP request latency by method and route template",
                    ["method", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
CHECKOUTS = Counter("orders_checkouts_total", "POST /api/orders/ by outcome (placed, replayed, rejected, failed)",
                    ["outcome"])

UNMATCHED = "<unmatched>"  # 404s for random paths must not create one time series per path


def observe(method: str, route: str | None, status: int, seconds: float) -> None:
    route = route or UNMATCHED
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)
