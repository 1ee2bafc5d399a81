"""A private embedded stack for a benchmark run: fresh cluster in a temp dir, free ports, migrated."""
from __future__ import annotations

import os
import platform
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from stack import config, postgres
from stack.harness import EmbeddedStack, free_port, on_free_ports


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@contextmanager
def private_stack(*, relay: bool = True, web: bool = False, consumers: bool = False,
                  gateway: bool = False) -> Iterator[EmbeddedStack]:
    """Start postgres + broker (+ relay, web, gateway, consumers) on free ports; Django is pointed at it."""
    data_dir = Path(tempfile.mkdtemp(prefix="orders-bench-"))
    data_dir.chmod(0o755)  # the cluster runs as the unprivileged postgres user
    cfg = on_free_ports(replace(config.load(), data_dir=data_dir, db_port=free_port(), db_name="orders_bench"))
    stack = EmbeddedStack.create(cfg)
    try:
        say(f"starting a private stack in {data_dir}")
        stack.start_postgres()
        postgres.ensure_database(cfg)
        os.environ.update(ORDERS_DB_HOST=cfg.db_host, ORDERS_DB_PORT=str(cfg.db_port), ORDERS_DB_NAME=cfg.db_name,
                          ORDERS_DB_USER=cfg.db_user, ORDERS_DB_PASSWORD=cfg.db_password,
                          KAFKA_BOOTSTRAP_SERVERS=cfg.kafka_bootstrap,
                          DJANGO_SETTINGS_MODULE="orders_site.settings", ORDERS_DATA_DIR=str(data_dir))
        import django
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connections

        django.setup()
        # A second stack in the same process (make bench runs several): point Django at it. The
        # connection holds this very dict, so it reconnects to the new cluster on next use.
        settings.DATABASES["default"].update(HOST=cfg.db_host, PORT=str(cfg.db_port), NAME=cfg.db_name)
        connections.close_all()
        call_command("migrate", interactive=False, verbosity=0)
        say("database migrated; starting the broker")
        stack.start_broker()
        if relay:
            say("starting the relay (Kafka Connect + Debezium)")
            stack.start_relay()
        if web:
            stack.start_web()
        if gateway:
            stack.start_gateway()
        if consumers:
            stack.start_consumers()
        say("stack ready")
        yield stack
    finally:
        say("stopping the stack")
        from django.db import connections
        try:
            connections.close_all()
        except Exception:  # noqa: BLE001 - e.g. a query interrupted by SIGTERM; the stack must still stop
            pass
        stack.stop_all()
        if os.environ.get("ORDERS_KEEP_BENCH_DATA") == "1":  # logs for a post-mortem
            say(f"kept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def _status(pid: int) -> dict[str, str]:
    try:
        return dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if ":" in line)
    except OSError:
        return {}


def cpu_seconds_of(pids: list[int]) -> float:
    """CPU time (user + system) these processes used so far, their exited children included (a
    PostgreSQL backend that disconnected counts in its parent)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_seconds(stack) -> dict[str, float]:
    """CPU time each running component has used so far, its whole process tree."""
    return {name: cpu_seconds_of(component.process_tree())
            for name, component in stack.components.items() if component.running}


def cpu_share(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    """Cores each component kept busy between two cpu_seconds() readings."""
    return {name: round((after[name] - before.get(name, 0.0)) / seconds, 3) for name in after}


def peak_memory(stack) -> dict[str, dict[str, Any]]:
    """Peak resident memory (VmHWM) of every process of every component, by component.

    PostgreSQL is many processes sharing its buffers; the largest one and the sum are both given (the
    sum counts shared pages once per process, so it overstates)."""
    report = {}
    for name, component in stack.components.items():
        if not component.running:
            continue
        procs = []
        for pid in component.process_tree():
            st = _status(pid)
            if "VmHWM" in st:
                procs.append((st.get("Name", "?").strip(), int(st["VmHWM"].split()[0]) / 1024))
        if procs:
            main = max(procs, key=lambda p: p[1])
            report[name] = {"processes": len(procs), "largest": main[0], "peak_mb_largest": round(main[1], 1),
                            "peak_mb_sum": round(sum(p[1] for p in procs), 1)}
    return report


def machine() -> dict[str, object]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cores": os.cpu_count(),
            "cpu": cpu, "python": platform.python_version(), "python_loop_seconds": cpu_calibration()}


def cpu_calibration() -> float:
    """Seconds one core takes for a fixed pure-Python loop (best of three). The same kind of machine
    has measured 2-3x apart on different days; this number lets runs from different days be compared."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(3_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return round(best, 3)


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def consumer_stats(stack) -> Counter:
    """The consumers' counters (processed, duplicates, ignored, batches...) summed over every process
    each consumer ran as, from the last `stats` line of each run in their logs (logged every 2 s)."""
    from stack.components import CONSUMER_PROCESSES

    total: Counter = Counter()
    for name in CONSUMER_PROCESSES:
        path = stack[name].log_path
        text = path.read_text(errors="replace") if path.exists() else ""
        for run in text.split("===== start")[1:]:
            lines = [line for line in run.splitlines() if "stats processed=" in line]
            if lines:
                total.update({k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[-1])})
    return total
