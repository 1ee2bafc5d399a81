"""The consumers' own CPU, steadily: the five services' handlers and the consumer loop in this process,
against the stack's PostgreSQL and the gateway simulator, fed the event store's rows as the relay
would publish them (tests/integration/saga_driver.py), with no broker and no relay.

On the full stack the consumers' CPU per order depends on how full the batches are, which depends on
the rate and on everything else competing for the two cores (docs/benchmarks.md, "Saga, sixth
pass"). Here nothing else runs but PostgreSQL and the gateway, and the batch size is set: each round
places `b` orders,
then delivers every new event to its services until the saga has run, timing each batch with the
process's CPU clock (the payment service's gateway calls from its threads included). A straight line
through CPU per round against orders per round splits the cost into what each order costs and what
each round of batches costs whatever it carries.
"""
from __future__ import annotations

import os
import random
import sys
import time
from typing import Any

from .stackup import say


def _quiet_logging() -> None:
    """The consumers' log lines, written as in production (a line per handled event), to /dev/null."""
    from orders_site.observability import logs

    stderr = sys.stderr
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - kept open: structlog writes to it from now on
    try:
        logs.configure(process="consumer")
    finally:
        sys.stderr = stderr


def split(runs: list[dict[str, Any]]) -> dict[str, float]:
    """CPU per round of batches against orders per round, fitted with a straight line (least squares):
    its slope is what each order costs, its intercept what a round of batches costs whatever it carries."""
    from .saga import _slope

    points = [(r["orders_per_round"], r["cpu_ms_per_order"] * r["orders_per_round"]) for r in runs]
    per_order = _slope(points)
    fixed = sum(y for _, y in points) / len(points) - per_order * sum(x for x, _ in points) / len(points)
    return {"cpu_ms_per_order": round(per_order, 3), "cpu_ms_per_round_of_batches": round(fixed, 3)}


def measure(stack: Any, *, batch_orders: list[int], orders: int) -> dict[str, Any]:
    from django.db import connection

    from consumers import payment
    from consumers.observability import ConsumerObserver
    from orders_site.orders.checkout import CheckoutLine, CheckoutRequest, place_order
    from orders_site.payments.gateway_client import GatewayClient
    from tests.integration.saga_driver import SagaDriver

    from .saga import bench_catalog

    _quiet_logging()
    payment.client = GatewayClient(f"http://{stack.cfg.gateway_host}:{stack.cfg.gateway_port}", timeout=10.0)
    skus, customers = bench_catalog()
    rng = random.Random(7)

    def place(n: int) -> None:
        for _ in range(n):
            place_order(rng.choice(customers), CheckoutRequest((CheckoutLine(rng.choice(skus), 1),), "card"))

    service: list[str | None] = [None]  # whose batch runs now
    statements: dict[str, int] = {}
    cpu: dict[str, float] = {}

    def count(execute, sql, params, many, context):  # noqa: ANN001 - Django's wrapper protocol
        if service[0] is not None:
            statements[service[0]] = statements.get(service[0], 0) + 1
        return execute(sql, params, many, context)

    def timed(name: str, process_batch: Any) -> Any:
        """The runtime's process_batch, its CPU and statements counted for `name`."""
        def run(messages: list[Any]) -> None:
            service[0], started = name, time.process_time()
            try:
                process_batch(messages)
            finally:
                cpu[name] = cpu.get(name, 0.0) + time.process_time() - started
                service[0] = None
        return run

    runs = []
    with connection.execute_wrapper(count):
        for b in batch_orders:
            driver = SagaDriver()
            for name, runtime in driver.runtimes.items():
                runtime.observer = ConsumerObserver(name)
                runtime.process_batch = timed(name, runtime.process_batch)
            place(b)
            driver.pump()  # warm: prepared statements, caches
            cpu.clear()
            statements.clear()
            before = {name: (r.stats.batches, r.stats.processed) for name, r in driver.runtimes.items()}
            placed = rounds = 0
            started = time.monotonic()
            while placed < orders:
                place(b)
                placed += b
                rounds += 1
                driver.pump()
            per_service = {}
            for name, runtime in driver.runtimes.items():
                batches0, processed0 = before[name]
                per_service[name] = {
                    "cpu_ms_per_order": round(1000 * cpu.get(name, 0.0) / placed, 3),
                    "transactions_per_order": round((runtime.stats.batches - batches0) / placed, 3),
                    "statements_per_order": round(statements.get(name, 0) / placed, 2),
                    "events_applied_per_order": round((runtime.stats.processed - processed0) / placed, 2)}
            total = sum(cpu.values())
            run = {"orders_per_round": b, "orders": placed, "rounds": rounds,
                   "cpu_ms_per_order": round(1000 * total / placed, 3),
                   # the loop's transactions (the payment settle's own, after the gateway calls, not counted)
                   "transactions_per_order": round(sum(s["transactions_per_order"] for s in per_service.values()), 3),
                   "statements_per_order": round(sum(s["statements_per_order"] for s in per_service.values()), 2),
                   "per_service": per_service, "seconds": round(time.monotonic() - started, 1)}
            say(f"{b} orders per round: {run['cpu_ms_per_order']} ms of consumer CPU per order, "
                f"{run['transactions_per_order']} transactions and {run['statements_per_order']} statements per order")
            runs.append(run)
    result: dict[str, Any] = {"runs": runs}
    if len({r["orders_per_round"] for r in runs}) >= 2:
        result["split"] = split(runs)
        say(f"split: {result['split']['cpu_ms_per_order']} ms per order + "
            f"{result['split']['cpu_ms_per_round_of_batches']} ms per round of batches")
    return result
