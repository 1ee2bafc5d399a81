"""`make run`: start every process of the pipeline under honcho, in the foreground.

honcho is the process manager: it prefixes each process's output, and Ctrl-C (or any process
exiting) stops all of them. Each process waits for what it depends on, so they can start together.
"""
from __future__ import annotations

import os
import sys

from .config import REPO_ROOT, StackConfig
from .procs import log


def main(cfg: StackConfig) -> int:
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    first = not (cfg.pg_data / "PG_VERSION").exists()
    log("run", ("first run: a new data directory " if first else "reusing the data in ") + str(cfg.data_dir))
    log("run", f"API    http://{cfg.web_host}:{cfg.web_port}/api/   docs /api/docs/")
    log("run", f"Admin  http://{cfg.web_host}:{cfg.web_port}/admin/   user: demo   password: demo-password")
    log("run", f"Payment gateway simulator  http://{cfg.gateway_host}:{cfg.gateway_port}/v1/ledger")
    log("run", f"Kafka  {cfg.kafka_bootstrap}   Kafka Connect REST {cfg.connect_url}   Postgres {cfg.db_host}:{cfg.db_port}")
    log("run", "Ctrl-C stops everything")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # Put the virtualenv's python first so the Procfile's plain `python` is this interpreter.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    os.chdir(REPO_ROOT)
    argv = [sys.executable, "-m", "honcho", "start", "-f", str(REPO_ROOT / "Procfile")]
    os.execve(sys.executable, argv, env)
    return 0  # unreachable
