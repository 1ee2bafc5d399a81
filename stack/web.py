"""The web process: wait for the database, migrate, load demo data, serve API + admin with Granian."""
from __future__ import annotations

import os
import shutil
import sys

from .config import StackConfig
from .procs import log
from . import postgres


def serve(cfg: StackConfig) -> int:
    postgres.wait_ready(cfg, timeout=120)
    postgres.ensure_database(cfg)  # the one place a running stack creates it
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orders_site.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    if os.environ.get("ORDERS_DEMO_DATA", "1") == "1":
        call_command("load_demo")
    log("web", f"API      http://{cfg.web_host}:{cfg.web_port}/api/  (docs: /api/docs/)")
    log("web", f"Admin    http://{cfg.web_host}:{cfg.web_port}/admin/")
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(cfg.run_dir / "prometheus-web"))
    exec_server(cfg.web_host, cfg.web_port)
    return 0  # unreachable


def exec_server(host: str, port: int) -> None:
    """Become the HTTP server (exec: the supervisor's, or the container's, signals reach it directly).
    Also what docker-compose.yml runs (`python -m stack web-server`), so both serve alike."""
    # Every worker process counts its own requests; /metrics adds up the files they write here. The
    # directory is emptied first: a previous run's files would count twice. (The web defines no live
    # gauges, so a dead worker's files need no clean-up: its counts were real.)
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:
        shutil.rmtree(metrics_dir, ignore_errors=True)
        os.makedirs(metrics_dir, exist_ok=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orders_site.settings")
    os.environ.setdefault("ORDERS_PROCESS", "web")
    # exec keeps this pid: its workers recognise their server by it
    from orders_site.web_process import SERVER_PID

    os.environ[SERVER_PID] = str(os.getpid())
    os.execv(sys.executable, [sys.executable, "-m", "granian", *granian_args(host, port)])


def granian_args(host: str, port: int) -> list[str]:
    """Granian serving the WSGI app: 2 worker processes x 4 threads each by default.

    Granian, not gunicorn: its HTTP handling is Rust, and on these 2 cores a checkout cost the web
    ~0.4 ms less CPU than under gunicorn's gthread workers, whose pure-Python parser, selector loop and
    thread hand-off were ~0.6 ms of ~3.4 (docs/benchmarks.md, "Checkout API, fourth pass"). Threads
    keep connections alive and a slow client from holding a whole worker, as before.
    """
    args = ["--interface", "wsgi", "orders_site.wsgi:application", "--host", host, "--port", str(port),
            "--workers", os.environ.get("WEB_WORKERS", "2"),
            "--blocking-threads", os.environ.get("WEB_THREADS", "4"),
            "--http", "1", "--no-ws",
            # a worker that dies is started again; on SIGTERM in-flight requests get 10 s to finish
            "--respawn-failed-workers", "--workers-kill-timeout", "10"]
    if os.environ.get("WEB_ACCESS_LOG"):  # off by default: a line per request costs CPU even for /dev/null
        args.append("--access-log")
    return args
