"""`python manage.py simulate`: put steady or ramped load on the running stack and watch it live."""
from __future__ import annotations

import os
import signal
import threading
import time
import urllib.error
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console
from rich.live import Live
from rich.table import Table

from orders_site.catalog.models import Product
from orders_site.observability.loadgen import LoadDriver, Plan, Progress, ensure_customers, gateway_faults, parse_mix
from orders_site.orders.status import OrderStatus


def _fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def render(snap: dict[str, Any], title: str) -> Table:
    table = Table(title=title, show_header=False, min_width=60)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("elapsed", f"{snap['elapsed']:.1f} s")
    table.add_row("orders sent / placed", f"{snap['sent']} / {snap['placed']}  ({snap['achieved_rate']:.2f}/s)")
    table.add_row("HTTP answers", "  ".join(f"{k}: {v}" for k, v in sorted(snap["http"].items(), key=str)) or "-")
    for state in OrderStatus:
        table.add_row(f"  {state.value}", str(snap["states"].get(state.value, 0)))
    table.add_row("checkout p50/p95/p99",
                  " / ".join(_fmt(snap["checkout_ms"][q], " ms") for q in (0.5, 0.95, 0.99)))
    table.add_row("to final state p50/p95/p99",
                  " / ".join(_fmt(snap["final_s"][q], " s", 2) for q in (0.5, 0.95, 0.99)))
    table.add_row("consumer lag (messages)", _fmt(snap["lag"]) if snap["lag"] is not None else "?")
    return table


class Command(BaseCommand):
    help = ("Place orders through the HTTP API at a steady or ramped rate, with a live view of orders by "
            "state, consumer lag and latency percentiles; Ctrl-C stops and prints the summary.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default=f"http://{os.environ.get('WEB_HOST', '127.0.0.1')}:"
                                             f"{os.environ.get('WEB_PORT', '8000')}", help="the web app")
        parser.add_argument("--rate", type=float, default=2.0, help="orders per second (at the start)")
        parser.add_argument("--ramp-to", type=float, default=None, help="orders per second at the end (linear)")
        parser.add_argument("--duration", type=float, default=60.0, help="seconds; 0 runs until Ctrl-C")
        parser.add_argument("--customers", type=int, default=10, help="simulated customers (sim-000, ...)")
        parser.add_argument("--mix", default="", help="SKU=weight,... (default: every active product, equally)")
        parser.add_argument("--faults", default=None,
                            help="gateway fault rates for the run, e.g. decline=0.1,lost=0.02 (restored after)")
        parser.add_argument("--drain", type=float, default=30.0, help="seconds to wait for open orders at the end")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rate"] <= 0 or (options["ramp_to"] is not None and options["ramp_to"] < 0):
            raise CommandError("--rate must be positive and --ramp-to not negative")
        if options["customers"] < 1 or options["duration"] < 0:
            raise CommandError("--customers must be at least 1 and --duration not negative")
        try:
            mix = parse_mix(options["mix"]) if options["mix"] else {
                sku: 1.0 for sku in Product.objects.filter(active=True).values_list("sku", flat=True)}
        except ValueError as err:
            raise CommandError(str(err)) from err
        if not mix:
            raise CommandError("no active product to order (load the demo shop: python manage.py load_demo)")
        gateway_url = os.environ.get("GATEWAY_URL", "http://127.0.0.1:8090")
        try:
            previous_faults = gateway_faults(gateway_url, options["faults"])
        except urllib.error.HTTPError as err:
            raise CommandError(f"the gateway refused the fault rates: {err.read().decode(errors='replace')}") from err
        except OSError as err:
            raise CommandError(f"the payment gateway simulator at {gateway_url} does not answer: {err}") from err

        plan = Plan(options["url"].rstrip("/"), options["rate"], options["ramp_to"], options["duration"],
                    options["customers"], mix)
        progress = Progress()
        driver = LoadDriver(plan, ensure_customers(plan.customers), progress)
        # Ctrl-C only asks the driver to stop: orders in flight finish and the summary is printed.
        previous_handler = signal.signal(signal.SIGINT, lambda *_: driver.stop())
        console = Console(file=self.stdout._out, force_terminal=None)
        try:
            self._run(driver, progress, console, options["drain"])
        finally:
            signal.signal(signal.SIGINT, previous_handler)
            if options["faults"] is not None:
                gateway_faults(gateway_url, ",".join(f"{k}={v}" for k, v in previous_faults.items()))
        console.print(render(progress.snapshot(), "Summary"))

    @staticmethod
    def _run(driver: LoadDriver, progress: Progress, console: Console, drain: float) -> None:
        worker = threading.Thread(target=driver.run, name="simulate-driver")
        worker.start()
        lag_every, lag_at = 3.0, 0.0
        with Live(render(progress.snapshot(), "simulate (Ctrl-C stops)"), console=console,
                  refresh_per_second=2, transient=True) as live:
            draining_since = None
            while True:
                progress.refresh_states()
                if time.monotonic() - lag_at >= lag_every:
                    progress.refresh_lag()
                    lag_at = time.monotonic()
                live.update(render(progress.snapshot(), "simulate (Ctrl-C stops)"))
                if not worker.is_alive():
                    draining_since = draining_since or time.monotonic()
                    if (progress.open_orders() == 0 or driver.stopping.is_set()
                            or time.monotonic() - draining_since > drain):
                        break
                time.sleep(0.5)
        worker.join()
        progress.refresh_states()
        progress.refresh_lag()
