"""Where a request's time goes, per layer, as a `Server-Timing` response header (W3C Server Timing).

`python -m bench api` turns it on (API_SERVER_TIMING=1) and reads p50/p99 per layer from it. Off by
default: it tells a client how long each step took, which is nobody else's business. The laps cost a
few microseconds whether the header is sent or not.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

ATTRIBUTE = "_layer_timings"


class Laps:
    """Consecutive laps: each `lap(name)` charges the time since the previous one to `name`."""

    def __init__(self) -> None:
        self.started = self._last = time.perf_counter()
        self.laps: list[tuple[str, float]] = []

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps.append((name, now - self._last))
        self._last = now


def laps_of(request: HttpRequest) -> Laps:
    """The request's laps (started by the middleware; a fresh set when it is not installed)."""
    laps = getattr(request, ATTRIBUTE, None)
    if laps is None:
        laps = Laps()
        setattr(request, ATTRIBUTE, laps)
    return laps


class ServerTimingMiddleware:
    """Outermost middleware: starts the clock, and adds the header with every lap plus `app` (the total)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.enabled = enabled()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        laps = laps_of(request)
        response = self.get_response(request)
        if self.enabled:
            response["Server-Timing"] = server_timing(laps)
        return response


def server_timing(laps: Laps) -> str:
    """The header's value: every layer's laps summed, and `app`, the time since the laps started."""
    total = time.perf_counter() - laps.started
    per_layer: dict[str, float] = {}
    for name, seconds in laps.laps:  # a layer may be entered twice (validation: body, then fields)
        per_layer[name] = per_layer.get(name, 0.0) + seconds
    parts = [f"{name};dur={seconds * 1000:.3f}" for name, seconds in per_layer.items()]
    return ", ".join([*parts, f"app;dur={total * 1000:.3f}"])


def enabled() -> bool:
    """Whether responses carry the header (settings.API_SERVER_TIMING, which the bench turns on)."""
    return bool(getattr(settings, "API_SERVER_TIMING", False))
