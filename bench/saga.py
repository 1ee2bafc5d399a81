"""Saga benchmark: order completion latency at a fixed rate, and the highest rate the saga sustains.

Orders are placed through the checkout service (the same `place_order` the API calls) by several
forked load processes on a fixed schedule, so a slow pipeline cannot slow the load down (open loop).
Every other part is the real embedded stack: Debezium relays each OrderCreated, the stock, payment,
order, delivery and notification consumers each run as their own process, and the gateway simulator
answers the payment consumer over HTTP (no injected faults here; `make chaos` does faults).

Completion latency comes from the database: an order's `created_at` (set in the checkout transaction)
to its `updated_at` once it is terminal (set in the transaction that made it terminal), and to the
`sent_at` of its customer notification, the last step of the saga. Both clocks are this machine's.

Lag is counted as orders whose customer has not yet been notified: every order ends in exactly one
outcome notification, so `orders - notifications` is the saga's whole backlog, across all five
consumer groups. A rate is sustained when that backlog stays flat while the load runs.
"""
from __future__ import annotations

import multiprocessing
import os
import random
import time
import uuid
from typing import Any

from .stackup import consumer_stats, cpu_seconds, cpu_share, peak_memory, percentile, say

TARGET_COMPLETION_P99_MS = 500.0
TARGET_SUSTAINED_RATE = 300.0
LOAD_PROCESSES = 3


# -- load ----------------------------------------------------------------------------------------

def _load_worker(rate: float, seconds: float, skus: list[str], customers: list[int], seed: int,
                 queue: multiprocessing.Queue) -> None:
    from django.db import connection

    from orders_site.orders.checkout import CheckoutLine, CheckoutRequest, place_order

    rng = random.Random(seed)
    placed = failed = late = 0
    start = time.perf_counter()
    total = int(rate * seconds)
    for n in range(total):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        elif delay < -0.1:
            late += 1  # this process could not keep the schedule (CPU starved)
        lines = tuple(CheckoutLine(sku, rng.randint(1, 2)) for sku in rng.sample(skus, rng.randint(1, 2)))
        try:
            place_order(rng.choice(customers), CheckoutRequest(lines, "card"))
            placed += 1
        except Exception:  # noqa: BLE001 - counted and reported, never hidden
            failed += 1
    connection.close()
    queue.put({"placed": placed, "failed": failed, "late": late, "seconds": time.perf_counter() - start})


def place_at_rate(rate: float, seconds: float, skus: list[str], customers: list[int],
                  on_tick=None) -> dict[str, Any]:
    """Place `rate` orders/s for `seconds` from LOAD_PROCESSES forked processes; `on_tick()` runs in
    this process about once a second meanwhile (sampling)."""
    from django.db import connections

    connections.close_all()  # children must not share the parent's socket
    ctx = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue = ctx.Queue()
    procs = [ctx.Process(target=_load_worker, args=(rate / LOAD_PROCESSES, seconds, skus, customers,
                                                     random.randrange(1 << 30), queue))
             for _ in range(LOAD_PROCESSES)]
    cpu_before = os.times()
    for p in procs:
        p.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(1)
        if on_tick:
            on_tick()
    results = [queue.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(30)
    cpu_after = os.times()
    elapsed = max(r["seconds"] for r in results)
    placed = sum(r["placed"] for r in results)
    load_cpu = (cpu_after.children_user + cpu_after.children_system
                - cpu_before.children_user - cpu_before.children_system)
    return {"rate_target": rate, "placed": placed, "failed": sum(r["failed"] for r in results),
            "late": sum(r["late"] for r in results), "rate_achieved": round(placed / elapsed, 1),
            # The load processes share the 2 cores with the pipeline; their cost is part of the picture.
            "load_generator_cpu_cores": round(load_cpu / elapsed, 2)}


def bench_catalog(customers: int = 50) -> tuple[list[str], list[int]]:
    """Products with ample stock (every order can complete) and some customers."""
    from django.contrib.auth import get_user_model

    from orders_site.catalog.services import receive_product

    skus = []
    for n in range(8):
        sku = f"SAGA-{n}-{uuid.uuid4().hex[:4]}"
        receive_product(sku=sku, name=f"Saga bench product {n}", price_minor=900 + 10 * n, quantity=10_000_000)
        skus.append(sku)
    users = [get_user_model().objects.create(username=f"saga-{uuid.uuid4().hex[:8]}",
                                             email="bench@example.com").pk for _ in range(customers)]
    return skus, users


# -- observation ---------------------------------------------------------------------------------

def backlog() -> int:
    """Orders whose customer has not been notified yet: the whole saga's unfinished work."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM orders) - (SELECT count(*) FROM notifications)")
        return int(cur.fetchone()[0])


def stored_events() -> int:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM event_store")
        return int(cur.fetchone()[0])


def per_order(counters, events: int, orders: int) -> dict[str, float]:
    """What one order cost the pipeline: events written, messages the consumers read, events they
    applied and the consumer transactions (batches) that applied them."""
    if not orders:
        return {}
    return {"events_written": round(events / orders, 2),
            "consumer_messages_read": round((counters["processed"] + counters["duplicates"]
                                             + counters["ignored"]) / orders, 2),
            "consumer_events_applied": round(counters["processed"] / orders, 2),
            "consumer_transactions": round(counters["batches"] / orders, 2)}


def wait_drained(timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if backlog() == 0:
            return time.monotonic() - started
        time.sleep(0.5)
    return float("nan")


def completion_latencies(since) -> dict[str, Any]:
    """Latency of every order created since `since` (a datetime) that has reached its end."""
    from django.db import connection

    from orders_site.orders.status import TERMINAL

    with connection.cursor() as cur:
        cur.execute(
            "SELECT extract(epoch FROM o.updated_at - o.created_at) * 1000,"
            "       extract(epoch FROM n.sent_at - o.created_at) * 1000, o.status"
            " FROM orders o LEFT JOIN notifications n ON n.order_id = o.id"
            " WHERE o.created_at >= %s", [since])
        rows = cur.fetchall()
    terminal = {s.value for s in TERMINAL}
    final = sorted(float(r[0]) for r in rows if r[2] in terminal)
    notified = sorted(float(r[1]) for r in rows if r[1] is not None)
    by_state: dict[str, int] = {}
    for r in rows:
        by_state[r[2]] = by_state.get(r[2], 0) + 1

    def summary(values: list[float]) -> dict[str, float | None]:
        return {"p50_ms": round(percentile(values, 50), 1), "p95_ms": round(percentile(values, 95), 1),
                "p99_ms": round(percentile(values, 99), 1), "max_ms": round(values[-1], 1) if values else None}

    return {"orders": len(rows), "by_state": by_state, "final_state": summary(final),
            "notified": summary(notified), "unfinished": len(rows) - len(final)}


def _slope(samples: list[tuple[float, int]]) -> float:
    """Least-squares growth of the backlog in orders per second."""
    n = len(samples)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in samples) / n
    my = sum(v for _, v in samples) / n
    var = sum((t - mx) ** 2 for t, _ in samples)
    return sum((t - mx) * (v - my) for t, v in samples) / var if var else 0.0


# -- the two measurements ------------------------------------------------------------------------

def measure_completion(rate: float, seconds: float, skus: list[str], customers: list[int]) -> dict[str, Any]:
    from django.utils import timezone

    wait_drained(300)
    since = timezone.now()
    say(f"saga: completion latency at {rate:.0f} orders/s for {seconds:.0f} s")
    load = place_at_rate(rate, seconds, skus, customers)
    drain = wait_drained(600)
    result = {"load": load, "drain_after_load_seconds": round(drain, 1), **completion_latencies(since)}
    result["target_p99_ms"] = TARGET_COMPLETION_P99_MS
    result["p99_met"] = result["unfinished"] == 0 and result["final_state"]["p99_ms"] < TARGET_COMPLETION_P99_MS
    say(f"saga: final state p50 {result['final_state']['p50_ms']} ms, p99 {result['final_state']['p99_ms']} ms; "
        f"notified p99 {result['notified']['p99_ms']} ms; load {load['rate_achieved']}/s")
    return result


def measure_step(stack, rate: float, seconds: float, skus: list[str], customers: list[int]) -> dict[str, Any]:
    """One step of the ramp: load at `rate`, sampling the backlog every second."""
    from django.db import connection
    from django.utils import timezone

    wait_drained(180)
    since = timezone.now()
    started = time.monotonic()
    samples: list[tuple[float, int]] = []

    def sample() -> None:
        samples.append((time.monotonic() - started, backlog()))
        connection.close()  # keep the sampler off the load's connection budget between samples

    say(f"saga: ramp step {rate:.0f} orders/s for {seconds:.0f} s")
    counters_before, events_before = consumer_stats(stack), stored_events()
    cpu_before, cpu_started = cpu_seconds(stack), time.monotonic()
    load = place_at_rate(rate, seconds, skus, customers, on_tick=sample)
    cpu = cpu_share(cpu_before, cpu_seconds(stack), time.monotonic() - cpu_started)
    # The first third is the pipeline filling up (every order in flight counts as backlog); judge the rest.
    settled = [s for s in samples if s[0] >= seconds / 3]
    slope = _slope(settled)
    drain = wait_drained(300)
    latency = completion_latencies(since)
    time.sleep(2.5)  # the consumers log their counters every 2 s
    work = per_order(consumer_stats(stack) - counters_before, stored_events() - events_before, load["placed"])
    # Flat: once settled, the backlog grows by at most 3 % of the offered rate (0.3 orders/s at the
    # least: sampling noise), and the load generator kept its schedule (else the rate was not offered).
    flat = slope <= max(0.3, 0.03 * rate) and load["rate_achieved"] >= 0.95 * rate and load["failed"] == 0
    result = {"rate": rate, "load": load, "backlog_samples": samples, "backlog_slope_per_second": round(slope, 2),
              "backlog_peak": max((v for _, v in samples), default=0), "drain_after_load_seconds": round(drain, 1),
              "completion": latency, "sustained": flat,
              # where the 2 cores went while loaded (the load generator is not a stack component)
              "cpu_cores": cpu, "cpu_ms_per_order": {name: round(cores * 1000 / load["rate_achieved"], 1)
                                                     for name, cores in cpu.items()},
              "per_order": work}
    result["cpu_ms_per_order"]["consumers_total"] = round(sum(
        v for k, v in result["cpu_ms_per_order"].items() if k.startswith("consumer-")), 1)
    say(f"saga: {rate:.0f}/s offered, {load['rate_achieved']}/s placed, backlog slope {slope:+.1f}/s "
        f"(peak {result['backlog_peak']}), drained in {drain:.1f} s, consumer CPU "
        f"{result['cpu_ms_per_order']['consumers_total']} ms/order, {work.get('consumer_transactions')} consumer "
        f"transactions/order, final-state p99 "
        f"{latency['final_state']['p99_ms']} ms -> {'sustained' if flat else 'NOT sustained'}")
    return result


def measure(stack, *, completion_rate: float, completion_seconds: float, ramp: list[float],
            step_seconds: float, warm_up: tuple[float, float] = (50.0, 180.0)) -> dict[str, Any]:
    """A warm-up, the idle pipeline, the ramp (rates from low to high, stopping at the first one the
    saga cannot hold), then a burst at the completion-latency rate. Each ramp step reports its own
    completion latency too."""
    skus, customers = bench_catalog()
    # A pipeline in service is warm: consumers in their groups, topics created, and above all the two
    # JVMs' hot paths compiled. A fresh one spends its first minutes under load compiling (the relay and
    # broker cost ~3x more CPU per order in a first 20 s step at 50/s than later at 100/s, and after a
    # 60 s warm-up still ~1.5x: docs/benchmarks.md, "Saga, fourth pass"), so a ramp that starts cold
    # measures the JIT compiler, not the pipeline.
    warm_rate, warm_seconds = warm_up
    say(f"saga: warm-up ({warm_rate:.0f} orders/s for {warm_seconds:.0f} s)")
    place_at_rate(warm_rate, warm_seconds, skus, customers)
    wait_drained(120)
    say("saga: CPU of the idle pipeline (10 s)")  # what polling costs with nothing to do
    before = cpu_seconds(stack)
    time.sleep(10)
    idle_cpu = cpu_share(before, cpu_seconds(stack), 10)
    say(f"saga: idle: {idle_cpu}")
    steps = []
    for rate in ramp:
        steps.append(measure_step(stack, rate, step_seconds, skus, customers))
        if not steps[-1]["sustained"]:
            break  # higher rates only pile up more backlog
    sustained = max((s["rate"] for s in steps if s["sustained"]), default=0.0)
    completion = measure_completion(completion_rate, completion_seconds, skus, customers)
    return {"idle_cpu_cores": idle_cpu, "ramp": steps, "highest_sustained_rate": sustained,
            "target_sustained_rate": TARGET_SUSTAINED_RATE, "sustained_met": sustained >= TARGET_SUSTAINED_RATE,
            "completion": completion, "memory": peak_memory(stack)}
