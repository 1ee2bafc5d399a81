"""`make run` itself (`python -m stack run`): a first start in a directory only root can enter, every
process SIGKILLed in turn under the supervisor while the saga goes on, and a clean Ctrl-C.

The stack runs on its own free ports and data directory, next to (not instead of) the session's
e2e stack, and is driven like a user would: over HTTP with the token of its ready block.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from stack import config, postgres, run, supervision
from stack.components import PROCESSES
from stack.config import REPO_ROOT
from stack.harness import SupervisedRun, free_port, on_free_ports, stack_env, wait_for

pytestmark = pytest.mark.e2e


class RunningPipeline(SupervisedRun):
    @property
    def token(self) -> str:
        return re.search(r"Authorization: Token (\w+)", self.text())[1]

    def api(self, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"http://{self.cfg.web_host}:{self.cfg.web_port}{path}", method="POST" if body else "GET",
            data=json.dumps(body).encode() if body else None,
            headers={"Authorization": f"Token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def order_completes(self, timeout: float = 90) -> str:
        """Place an order through the API and wait for its outcome; returns the final status."""
        order = self.api("/api/orders/", {"items": [{"sku": "CB-005", "quantity": 1}], "payment_method": "card"})
        deadline = time.monotonic() + timeout
        status = order["status"]
        while time.monotonic() < deadline:
            status = self.api(f"/api/orders/{order['id']}/")["status"]
            if status == "DELIVERY_PREPARING":
                break
            time.sleep(0.3)
        return status

    def pid(self, name: str) -> int:
        return next(s.pid for s in supervision.states(self.cfg) if s.name == name and s.state == "RUNNING")


@pytest.fixture(scope="module")
def pipeline() -> Iterator[RunningPipeline]:
    # mkdtemp makes the directory mode 0700: the unprivileged database user cannot enter it
    data_dir = Path(tempfile.mkdtemp(prefix="orders-run-"))
    running = RunningPipeline(on_free_ports(replace(config.load(), data_dir=data_dir, db_port=free_port())))
    running.start()
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()
        if os.environ.get("ORDERS_KEEP_TEST_DATA") != "1":
            shutil.rmtree(postgres.cluster_dir(running.cfg).parent, ignore_errors=True)
            shutil.rmtree(data_dir, ignore_errors=True)


def test_a_first_start_where_only_root_can_enter_says_ready_once(pipeline: RunningPipeline) -> None:
    # then the cluster lives where the database user can reach it, and the user's directory is untouched
    cluster = postgres.cluster_dir(pipeline.cfg)
    assert (cluster / "PG_VERSION").exists()
    if postgres.is_root():
        assert not str(cluster).startswith(str(pipeline.cfg.data_dir))
    assert pipeline.cfg.data_dir.stat().st_mode & 0o777 == 0o700
    # and one ready block, with the demo token, once everything is up
    assert pipeline.text().count("ready in") == 1
    assert len(pipeline.token) == 40
    assert pipeline.order_completes() == "DELIVERY_PREPARING"


@pytest.mark.parametrize("name", [p.name for p in PROCESSES] + ["relay-worker"])
def test_a_sigkilled_process_is_restarted_and_the_saga_goes_on(pipeline: RunningPipeline, name: str) -> None:
    # given the pipeline running; when one process dies without any clean-up
    supervised = "relay" if name == "relay-worker" else name
    before = pipeline.pid(supervised)
    exits = pipeline.text().count(f"exited: {supervised} ")
    victim = before
    if name == "relay-worker":  # the JVM under the relay launcher, which must notice at once
        victim = int(Path(f"/proc/{before}/task/{before}/children").read_text().split()[0])
    os.kill(victim, signal.SIGKILL)
    # then the supervisor says so and starts it again, the others keep running
    wait_for(lambda: pipeline.text().count(f"exited: {supervised} ") > exits, 10,
             f"the supervisor's line about {supervised}")
    wait_for(lambda: any(s.name == supervised and s.state == "RUNNING" and s.pid != before
                         for s in supervision.states(pipeline.cfg)), 60, f"{supervised} to run again")
    others = [s for s in supervision.states(pipeline.cfg) if s.name != supervised]
    assert all(s.state == "RUNNING" for s in others), others
    # and once it is ready again (the web process migrates before it listens), orders still complete
    checks = run.readiness_checks(pipeline.cfg)
    wait_for(lambda: not run.pending(checks), 90, "the pipeline to be ready again")
    assert pipeline.order_completes() == "DELIVERY_PREPARING"


def test_make_status_shows_each_process_with_its_restarts(pipeline: RunningPipeline) -> None:
    result = subprocess.run([sys.executable, "-m", "stack", "status"], env=stack_env(pipeline.cfg), cwd=REPO_ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    assert set(rows) == {p.name for p in PROCESSES}
    assert all(row[1] == "RUNNING" for row in rows.values())
    assert int(rows["broker"][-1]) >= 1  # killed by the test before


def test_ctrl_c_stops_every_process_and_exits_0(pipeline: RunningPipeline) -> None:
    pids = [s.pid for s in supervision.states(pipeline.cfg)]
    assert pipeline.stop() == 0
    assert "stopped" in pipeline.output[-1]
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
