"""`manage.py simulate` against the running stack: it places orders through the API, and Ctrl-C stops
it cleanly with the summary."""
from __future__ import annotations

import re
import signal
import subprocess
import sys

import pytest
from django.db import connection

from orders_site.orders.models import Order
from stack.config import REPO_ROOT
from stack.harness import EmbeddedStack, stack_env, wait_for

pytestmark = pytest.mark.e2e


def test_simulate_places_orders_and_ctrl_c_prints_the_summary(saga: EmbeddedStack) -> None:
    # given the whole stack with the web app
    if not saga["web"].running:
        saga.start_web()
    before = Order.objects.filter(customer__username__startswith="sim-").count()
    # when simulate runs with no end, a few orders a second, with some declines, and gets Ctrl-C
    proc = subprocess.Popen([sys.executable, "manage.py", "simulate", "--rate", "4", "--duration", "0",
                             "--customers", "2", "--mix", "CB-005=3,MS-002=1", "--faults", "decline=0.3"],
                            cwd=REPO_ROOT, env=stack_env(saga.cfg), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    def placed_so_far() -> int:
        connection.close()
        return Order.objects.filter(customer__username__startswith="sim-").count() - before
    wait_for(lambda: placed_so_far() >= 5 or proc.poll() is not None, 90, "simulate to place 5 orders")
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    # then it exits 0 with the summary, counting what it placed
    assert proc.returncode == 0, output
    assert "Summary" in output
    placed = int(re.search(r"orders sent / placed\s*│?\s*\d+ / (\d+)", output)[1])
    assert placed >= 5
    assert Order.objects.filter(customer__username__startswith="sim-").count() - before == placed
    assert "201: " in output and "checkout p50/p95/p99" in output
