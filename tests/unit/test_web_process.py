"""A web worker does its one-time work when it loads the application, not in its first request, and
dies with the server that started it (orders_site/web_process.py)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from stack.config import REPO_ROOT

PROBE = """
import sys
import orders_site.wsgi
from orders_site.eventstore import avro
print("urlconf", "orders_site.urls" in sys.modules)
print("checkout view", "orders_site.api.checkout" in sys.modules)
print("schemas", avro._registry.cache_info().currsize, flush=True)
"""
ENV = {"DJANGO_SETTINGS_MODULE": "orders_site.settings", "PATH": "/usr/bin:/bin"}


def test_loading_the_wsgi_application_imports_the_views_and_reads_the_schemas() -> None:
    # A fresh interpreter: this test process has imported everything long ago.
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=REPO_ROOT, env=ENV,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == ["urlconf True", "checkout view True", "schemas 1"]


# A stand-in for the server's main process: it starts one worker that loads wsgi.py and then waits.
SERVER = f"""
import os, subprocess, sys, time
os.environ["ORDERS_WEB_SERVER_PID"] = str(os.getpid())
worker = subprocess.Popen([sys.executable, "-c", {PROBE + "import time; time.sleep(60)"!r}], stdout=subprocess.PIPE,
                          text=True)
for _ in range(3):
    worker.stdout.readline()  # the worker has loaded the application
print(worker.pid, flush=True)
time.sleep(60)
"""


def test_a_worker_dies_when_its_server_is_killed() -> None:
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT,
                              env=ENV)
    worker = None
    try:
        worker = int(server.stdout.readline())
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
        deadline = time.monotonic() + 10
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(worker), "the worker outlived its server"
    finally:
        server.kill()
        if worker is not None and _alive(worker):
            os.kill(worker, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has died; only its exit status waits for a parent
