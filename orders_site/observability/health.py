"""Readiness checks shared by the web app and the consumers: is each dependency reachable now?

Each check answers within a couple of seconds and never raises: a failing part is named in the
answer (`/readyz` is 503 with `{"failing": ["broker"], ...}`), so an operator or an orchestrator
knows which dependency to look at (docs/operations.md, "Health").
"""
from __future__ import annotations

import functools
import socket
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka.admin import AdminClient
from django.db import connection

TIMEOUT = 2.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


def check_database() -> Check:
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
        return Check("database", True)
    except Exception as err:  # noqa: BLE001 - any failure means "not reachable", named in the answer
        connection.close()
        return Check("database", False, f"{type(err).__name__}: {err}".strip()[:300])


@functools.lru_cache(maxsize=4)
def _admin(bootstrap: str) -> AdminClient:
    # One client per process and address: a new one per probe would open new connections each time.
    return AdminClient({"bootstrap.servers": bootstrap, "socket.connection.setup.timeout.ms": 2000})


def check_broker(bootstrap: str) -> Check:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:  # an absent broker makes librdkafka wait the whole timeout; a refused port is quicker to see
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=TIMEOUT).close()
        _admin(bootstrap).list_topics(timeout=TIMEOUT)
        return Check("broker", True)
    except Exception as err:  # noqa: BLE001
        return Check("broker", False, f"{bootstrap}: {type(err).__name__}: {err}"[:300])


def check_connector(connect_url: str) -> Check:
    from stack import connector

    name = connector.load_definition()["name"]
    status = connector.fetch_status(connect_url, name)
    if status is None:
        return Check("connector", False, f"Kafka Connect at {connect_url} does not answer for {name}")
    failure = connector.task_failure(status)
    states = [status["connector"]["state"], *(t["state"] for t in status.get("tasks", []))]
    if failure or any(s != "RUNNING" for s in states) or len(states) < 2:
        return Check("connector", False, f"{name}: {'/'.join(states)}" + (f": {failure[:200]}" if failure else ""))
    return Check("connector", True)


def run_checks(checks: list[Callable[[], Check]]) -> tuple[int, dict[str, object]]:
    """(HTTP status, body) of a readiness answer: 200 when every check passed, else 503 naming them."""
    results = [check() for check in checks]
    failing = [r.name for r in results if not r.ok]
    body: dict[str, object] = {"status": "ready" if not failing else "not ready", "failing": failing,
                               "checks": {r.name: {"ok": r.ok, **({"detail": r.detail} if r.detail else {})}
                                          for r in results}}
    return (503 if failing else 200), body
