"""The processes of the embedded stack, listed once: `make run`'s supervisor and the test and
benchmark harness both start exactly these (`python -m stack <args>`)."""
from __future__ import annotations

import signal
from dataclasses import dataclass

from consumers.registry import SERVICE_NAMES


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    args: tuple[str, ...]
    # PostgreSQL's SIGTERM is a "smart" shutdown that waits for every client to leave; SIGINT is
    # its fast one. Everything else stops cleanly on SIGTERM.
    stop_signal: int = signal.SIGTERM


def consumer_process(service: str) -> str:
    return f"consumer-{service}"


PROCESSES: tuple[ProcessSpec, ...] = (
    ProcessSpec("postgres", ("postgres",), signal.SIGINT),
    ProcessSpec("broker", ("broker",)),
    ProcessSpec("relay", ("relay",)),
    ProcessSpec("web", ("web",)),
    ProcessSpec("gateway", ("gateway",)),
    *(ProcessSpec(consumer_process(s), ("consumer", s)) for s in SERVICE_NAMES),
)
CONSUMER_PROCESSES = [consumer_process(s) for s in SERVICE_NAMES]
