"""What a web worker process does once, when it loads the WSGI application (wsgi.py).

1. **Die with the server.** Granian's main process starts the workers. When it is killed outright
   (SIGKILL, the OOM killer) its workers used to live on as orphans, still accepting on the shared
   port next to the workers of the server the supervisor started again, and one of them answered a
   test's request with a 500. Each worker asks the kernel for SIGKILL when its parent dies, as the
   launchers' own children do (stack/procs.py). A killed request's transaction rolls back, and its
   Idempotency-Key makes the client's retry safe.
2. **Warm up.** Django imports the URLconf (and with it every view, DRF and the API modules) when the
   first request is resolved, and the event codec reads `schemas/` at its first use. A fresh worker
   spent ~0.35-0.45 s of CPU on its first checkout that way, which a load test showed as its p99
   when a worker got its first connection mid-run (docs/benchmarks.md, "Checkout API, fourth pass").
"""
from __future__ import annotations

import os

SERVER_PID = "ORDERS_WEB_SERVER_PID"  # set by stack/web.py for the server it execs


def prepare() -> None:
    die_with_the_server()
    warm_up()


def die_with_the_server() -> None:
    server = os.environ.get(SERVER_PID)
    if not server or os.getppid() != int(server):
        return  # not one of the server's workers: a test, runserver, or the server itself
    from stack.procs import die_with_parent

    die_with_parent()
    if os.getppid() != int(server):  # it died between the check and the request: nothing will signal us
        os._exit(1)


def warm_up() -> None:
    from django.urls import get_resolver

    from orders_site.eventstore import avro

    get_resolver().url_patterns  # noqa: B018 - the property imports the URLconf and every view module
    avro.event_types()  # loads and checks every schema once
