"""gunicorn settings for prometheus-client's multiprocess mode (`--config python:<this module>`).

Each worker writes its metrics to files in PROMETHEUS_MULTIPROC_DIR and `/metrics` adds them up.
The directory is emptied when the master starts (old workers' files would count twice), and a
dead worker's live gauges are dropped (its counters stay: they were counted).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any


def on_starting(server: Any) -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        Path(directory).mkdir(parents=True, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
