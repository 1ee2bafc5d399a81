"""Failure injection: per customer (deterministic, for tests) or as rates (for chaos runs).

Kinds: decline, latency (slow but fine), hang (charge made, answer after the client gave up),
error (503, nothing charged), lost (charge made, connection dropped without an answer).
"""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

KINDS = ("decline", "latency", "hang", "error", "lost")


@dataclass
class FaultPlan:
    rates: dict[str, float] = field(default_factory=dict)   # kind -> probability per charge
    latency_ms: int = 200
    hang_ms: int = 6000
    per_customer: dict[str, list[str]] = field(default_factory=dict)  # customer -> queue of one-shot faults
    _lock: threading.Lock = field(default_factory=threading.Lock)
    injected: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})

    @classmethod
    def parse_rates(cls, spec: str) -> dict[str, float]:
        """"decline=0.1,hang=0.02" -> {"decline": 0.1, "hang": 0.02}; raises ValueError on nonsense."""
        rates: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            kind, _, value = part.partition("=")
            if kind not in KINDS or not 0 <= float(value) <= 1:
                raise ValueError(f"bad fault rate {part!r}: use kind=probability with kind in {KINDS}")
            rates[kind] = float(value)
        return rates

    def pick(self, customer_id: str | None) -> str | None:
        """The fault for this charge attempt (consumes a one-shot customer fault), or None."""
        with self._lock:
            queue = self.per_customer.get(customer_id or "")
            if queue:
                kind = queue.pop(0)
            else:
                roll, kind = random.random(), None
                for candidate, rate in self.rates.items():
                    if roll < rate:
                        kind = candidate
                        break
                    roll -= rate
            if kind:
                self.injected[kind] += 1
            return kind
