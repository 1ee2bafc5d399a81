"""Register the Debezium outbox connector over Kafka Connect's REST API and watch its health.

Both topologies use this: the local relay launcher, and docker-compose's one-shot `connect-init`
service (`python -m stack register-connector --url http://connect:8083`). The connector settings
come from connect/outbox-connector.json only.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from collections.abc import Callable
from typing import Any

from .config import REPO_ROOT
from .errors import StackError

CONNECTOR_FILE = REPO_ROOT / "connect" / "outbox-connector.json"


def load_definition(path: Path = CONNECTOR_FILE) -> dict[str, Any]:
    """The connector's name and config, exactly as committed."""
    definition = json.loads(path.read_text())
    if set(definition) != {"name", "config"}:
        raise StackError(f"{path} must hold exactly 'name' and 'config'")
    return definition


def _request(method: str, url: str, body: dict | None = None, timeout: float = 10) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json",
                                                                         "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            return err.code, json.loads(raw)
        except ValueError:
            return err.code, raw.decode(errors="replace")


def rest_up(url: str) -> bool:
    try:
        status, _ = _request("GET", f"{url}/connectors", timeout=2)
        return status == 200
    except (urllib.error.URLError, OSError):
        return False


def _always() -> bool:
    return True


def _check_alive(alive: Callable[[], bool]) -> None:
    if not alive():
        raise StackError("the Kafka Connect worker exited")


def register(url: str, definition: dict[str, Any] | None = None, *, alive: Callable[[], bool] = _always) -> None:
    """Create or update the connector (PUT is idempotent, unlike POST /connectors).

    `alive` tells whether the worker still runs: a dead one fails this at once instead of after
    a minute of refused connections."""
    definition = definition or load_definition()
    # Kafka Connect answers 409 while a rebalance is in progress (e.g. just after the worker joined).
    last: object = None
    for _ in range(60):
        _check_alive(alive)
        try:
            status, body = _request("PUT", f"{url}/connectors/{definition['name']}/config", definition["config"], 30)
        except OSError as err:  # a worker still joining its group can time out or reset the connection
            last = err
            time.sleep(1)
            continue
        if status in (200, 201):
            return
        if status not in (409, 500, 503):
            raise StackError(f"Kafka Connect refused the connector ({status}): {body}")
        last = body
        time.sleep(1)
    raise StackError(f"Kafka Connect did not accept the connector within a minute; last answer: {last}")


def fetch_status(url: str, name: str) -> dict[str, Any] | None:
    """The connector's status, or None if it is unknown or the worker does not answer."""
    try:
        status, body = _request("GET", f"{url}/connectors/{name}/status")
    except OSError:  # URLError, connection reset/refused: a worker restarting or gone
        return None
    return body if status == 200 else None


def fetch_offsets(url: str, name: str) -> list[dict[str, Any]] | None:
    """The connector's committed source offsets (Kafka Connect's offsets API), None if unknown."""
    try:
        status, body = _request("GET", f"{url}/connectors/{name}/offsets", timeout=3)
    except OSError:
        return None
    return body.get("offsets") if status == 200 and isinstance(body, dict) else None


def is_running(url: str, name: str) -> bool:
    """Whether the connector and every one of its tasks are RUNNING (False when unknown)."""
    status = fetch_status(url, name)
    return bool(status and status["connector"]["state"] == "RUNNING" and status.get("tasks")
                and all(t["state"] == "RUNNING" for t in status["tasks"]))


def task_failure(status: dict[str, Any]) -> str | None:
    """The first failed connector/task trace, or None when nothing failed."""
    if status["connector"]["state"] == "FAILED":
        return status["connector"].get("trace", "connector FAILED")
    for task in status.get("tasks", []):
        if task["state"] == "FAILED":
            return task.get("trace", f"task {task['id']} FAILED")
    return None


def wait_running(url: str, name: str, timeout: float = 60, *, alive: Callable[[], bool] = _always) -> None:
    """Block until the connector and all its tasks are RUNNING; raise with the task's error if one
    failed, or at once if `alive` says the worker is gone."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        _check_alive(alive)
        last = fetch_status(url, name)
        if last:
            failure = task_failure(last)
            if failure:
                raise StackError(f"connector {name} FAILED:\n{failure}")
            tasks = last.get("tasks", [])
            if last["connector"]["state"] == "RUNNING" and tasks and all(t["state"] == "RUNNING" for t in tasks):
                return
        time.sleep(0.25)
    raise StackError(f"connector {name} not RUNNING after {timeout:.0f}s; last status: {last}")


def wait_state(url: str, name: str, state: str, timeout: float = 60) -> None:
    """Block until the connector (not its tasks) is in `state` (RUNNING, STOPPED, PAUSED...)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fetch_status(url, name)
        if last and last["connector"]["state"] == state:
            return
        time.sleep(0.25)
    raise StackError(f"connector {name} not {state} after {timeout:.0f}s; last status: {last}")


def resnapshot(url: str, name: str, timeout: float = 120) -> None:
    """Make the connector publish the whole event store again, then stream on (an operator's tool
    after topics were lost or truncated; consumers dedupe what they already applied).

    Stops the connector, deletes its source offsets (Kafka Connect's offsets API) and resumes it:
    with no offsets, snapshot.mode=initial takes a new snapshot, which reads the event store in
    position order, so each aggregate's events reach its partition in sequence order."""
    for method, path, ok in (("PUT", "stop", (202, 204)), ("DELETE", "offsets", (200,)), ("PUT", "resume", (202,))):
        if path == "offsets":
            wait_state(url, name, "STOPPED", timeout)
        status, body = _request(method, f"{url}/connectors/{name}/{path}", timeout=30)
        if status not in ok:
            raise StackError(f"{method} /connectors/{name}/{path} answered {status}: {body}")
    wait_running(url, name, timeout)
