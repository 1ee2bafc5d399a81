"""Steady or ramped load on a running stack, through its HTTP API (`manage.py simulate`).

Orders are placed by a few worker threads at the planned rate (linear from `rate` to `ramp_to`);
what happens to them is read from the database (the same as the admin sees); consumer lag from the
broker (orders_site/pipeline/status.py). The command renders `Progress.snapshot()` live with rich.
"""
from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.authtoken.models import Token

from orders_site.orders.status import TERMINAL


@dataclass(frozen=True)
class Plan:
    base_url: str
    rate: float  # orders per second at the start
    ramp_to: float | None  # ... and at the end (None: steady)
    duration: float  # seconds; 0 = until stopped
    customers: int
    mix: dict[str, float]  # sku -> weight
    max_lines: int = 3
    workers: int = 8

    def rate_at(self, elapsed: float) -> float:
        if self.ramp_to is None or self.duration <= 0:
            return self.rate
        return self.rate + (self.ramp_to - self.rate) * min(elapsed / self.duration, 1.0)


def parse_mix(spec: str) -> dict[str, float]:
    """"KB-001=3,CB-005=1" -> weights; ValueError on nonsense."""
    mix = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        sku, _, weight = part.partition("=")
        value = float(weight or 1)
        if not sku or value <= 0:
            raise ValueError(f"bad mix entry {part!r}: use SKU=weight with a positive weight")
        mix[sku] = value
    if not mix:
        raise ValueError("the product mix is empty")
    return mix


def ensure_customers(count: int, prefix: str = "sim") -> list[str]:
    """API tokens of `count` simulated customers (created once, reused by later runs)."""
    users = get_user_model()
    tokens = []
    for n in range(count):
        user, created = users.objects.get_or_create(username=f"{prefix}-{n:03d}")
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        tokens.append(Token.objects.get_or_create(user=user)[0].key)
    return tokens


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


@dataclass
class Progress:
    """What the run did so far; written by the workers, read by the display (under `lock`)."""

    started: float = field(default_factory=time.monotonic)
    sent: int = 0
    http: Counter = field(default_factory=Counter)  # status code (or "error") -> count
    latencies: list[float] = field(default_factory=list)  # checkout round trips, seconds
    order_ids: list[str] = field(default_factory=list)
    states: Counter = field(default_factory=Counter)
    final_latencies: list[float] = field(default_factory=list)
    lag: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, status: int | str, seconds: float, order_id: str | None) -> None:
        with self.lock:
            self.http[status] += 1
            self.latencies.append(seconds)
            if order_id:
                self.order_ids.append(order_id)

    def refresh_states(self) -> None:
        """Orders of this run by state, and checkout-to-final latency of the final ones (database)."""
        with self.lock:
            ids = list(self.order_ids)
        if not ids:
            return
        with connection.cursor() as cur:
            cur.execute("SELECT status, EXTRACT(EPOCH FROM updated_at - created_at) FROM orders WHERE id = ANY(%s::uuid[])",
                        [ids])
            rows = cur.fetchall()
        terminal = {s.value for s in TERMINAL}
        with self.lock:
            self.states = Counter(status for status, _ in rows)
            self.final_latencies = [float(s) for status, s in rows if status in terminal]

    def refresh_lag(self) -> None:
        from orders_site.pipeline import status

        try:
            groups = status.fetch_consumer_lag(status.PipelineConfig.from_settings())
            self.lag = sum(g.total for g in groups) if not any(g.error for g in groups) else None
        except Exception:  # noqa: BLE001 - the display shows "?" rather than stopping the load
            self.lag = None

    def open_orders(self) -> int:
        terminal = {s.value for s in TERMINAL}
        with self.lock:
            return len(self.order_ids) - sum(n for s, n in self.states.items() if s in terminal)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            elapsed = time.monotonic() - self.started
            return {
                "elapsed": elapsed, "sent": self.sent, "achieved_rate": self.sent / elapsed if elapsed else 0.0,
                "http": dict(self.http), "placed": len(self.order_ids), "states": dict(self.states),
                "checkout_ms": {q: _ms(percentile(self.latencies, q)) for q in (0.5, 0.95, 0.99)},
                "final_s": {q: percentile(self.final_latencies, q) for q in (0.5, 0.95, 0.99)},
                "lag": self.lag,
            }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


class LoadDriver:
    def __init__(self, plan: Plan, tokens: list[str], progress: Progress) -> None:
        self.plan, self.tokens, self.progress = plan, tokens, progress
        self.stopping = threading.Event()
        self.random = random.Random()

    def body(self) -> dict[str, Any]:
        skus, weights = list(self.plan.mix), list(self.plan.mix.values())
        lines = self.random.randint(1, min(self.plan.max_lines, len(skus)))
        chosen: list[str] = []
        while len(chosen) < lines:
            sku = self.random.choices(skus, weights)[0]
            if sku not in chosen:
                chosen.append(sku)
        return {"items": [{"sku": s, "quantity": self.random.randint(1, 2)} for s in chosen],
                "payment_method": self.random.choice(["card", "card", "wallet", "bank_transfer"])}

    def place_one(self) -> None:
        token = self.random.choice(self.tokens)
        request = urllib.request.Request(
            f"{self.plan.base_url}/api/orders/", data=json.dumps(self.body()).encode(), method="POST",
            headers={"Authorization": f"Token {token}", "Content-Type": "application/json",
                     "Idempotency-Key": str(uuid.uuid4())})
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                order_id = json.loads(response.read()).get("id")
                self.progress.record(response.status, time.perf_counter() - started, order_id)
        except urllib.error.HTTPError as err:
            self.progress.record(err.code, time.perf_counter() - started, None)
        except OSError:
            self.progress.record("error", time.perf_counter() - started, None)

    def run(self) -> None:
        """Submit orders on schedule until the duration is over or `stop()`; waits for those in flight."""
        with ThreadPoolExecutor(self.plan.workers, thread_name_prefix="simulate") as pool:
            due = 0.0  # orders owed by the schedule so far
            last = time.monotonic()
            while not self.stopping.is_set():
                now = time.monotonic()
                elapsed = now - self.progress.started
                if self.plan.duration and elapsed >= self.plan.duration:
                    break
                due += self.plan.rate_at(elapsed) * (now - last)
                last = now
                while due >= 1:
                    due -= 1
                    with self.progress.lock:
                        self.progress.sent += 1
                    pool.submit(self.place_one)
                self.stopping.wait(0.02)

    def stop(self) -> None:
        self.stopping.set()


def gateway_faults(gateway_url: str, rates: str | None) -> dict[str, float]:
    """Set the gateway simulator's fault rates (None: leave them); returns the rates before."""
    def post(body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(f"{gateway_url}/v1/_faults", data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    before = post({})["rates"]
    if rates is not None:
        answer = post({"rates": rates})
        if answer.get("error"):
            raise ValueError(answer["error"])
    return before
