"""Work a web process does once, at start, instead of inside its first requests.

Django imports the URLconf (and with it every view, DRF and the API modules) when the first request
is resolved, and the event codec reads `schemas/` at its first use. A fresh gunicorn worker spent
~0.35-0.45 s of CPU on its first checkout that way, and a worker that received its first connection
in the middle of a load test showed it as the run's p99 (docs/benchmarks.md, "Checkout API, fourth
pass"). Called from wsgi.py, so every worker, the first after a restart included, starts warm.
"""
from __future__ import annotations


def prepare_web_process() -> None:
    from django.urls import get_resolver

    from orders_site.eventstore import avro

    get_resolver().url_patterns  # noqa: B018 - the property imports the URLconf and every view module
    avro.event_types()  # loads and checks every schema once
