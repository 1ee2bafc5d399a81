"""The web process: wait for the database, migrate, load demo data, serve API + admin with gunicorn."""
from __future__ import annotations

import os
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
    # Every gunicorn worker counts its own requests; /metrics adds up the files they write here.
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(cfg.run_dir / "prometheus-web"))
    os.environ.setdefault("ORDERS_PROCESS", "web")
    # gthread, 2 workers x 4 threads: on 2 shared cores no other model measured better per checkout
    # (sync and gthread, 2-4 workers: docs/benchmarks.md, "Checkout API"), and threads keep
    # connections alive and a slow client from holding a whole worker.
    workers = os.environ.get("WEB_WORKERS", "2")
    threads = os.environ.get("WEB_THREADS", "4")
    # exec: gunicorn becomes this process, so the supervisor's signals reach it directly.
    argv = [sys.executable, "-m", "gunicorn", "orders_site.wsgi:application",
            "--bind", f"{cfg.web_host}:{cfg.web_port}", "--workers", workers, "--threads", threads,
            "--worker-class", os.environ.get("WEB_WORKER_CLASS", "gthread"), "--graceful-timeout", "10",
            "--config", "python:orders_site.observability.gunicorn_hooks"]
    if os.environ.get("WEB_ACCESS_LOG"):  # off by default: gunicorn formats every line even for /dev/null
        argv += ["--access-logfile", "-"]
    os.execv(sys.executable, argv)
    return 0  # unreachable
