"""Chaos run: steady order load, components killed and restarted at random, then drain and check.

Faults: SIGKILL of the Kafka Connect worker, of each consumer, of the gateway simulator and of the
Kafka broker (unflushed log segments, recovered on start); PostgreSQL immediate shutdown (SIGQUIT to
the postmaster: no checkpoint, crash recovery on start). The harness has no supervisor: this loop
plays its part and starts what it killed again. The load is a realistic mix:
some products run out, and the gateway declines, hangs, fails, loses answers and is slow at rates.
Afterwards the faults stop, the pipeline drains, and the invariant checker has the last word.
"""
from __future__ import annotations

import random
import signal
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from stack.components import CONSUMER_PROCESSES
from stack.harness import EmbeddedStack

from .stackup import consumer_stats, say

CONSUMERS = CONSUMER_PROCESSES
FAULT_KINDS = ["relay-worker", *CONSUMERS, "gateway", "postgres", "broker"]
GATEWAY_FAULTS = "decline=0.08,hang=0.02,error=0.04,lost=0.04,latency=0.08"


@dataclass
class Load:
    """Places orders at a fixed rate through the checkout service, riding out database outages."""

    rate: float
    skus: list[str]
    customers: list[int]
    placed: list[uuid.UUID] = field(default_factory=list)
    failed_attempts: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from django.db import connection

        from orders_site.orders.checkout import CheckoutLine, CheckoutRequest, place_order

        start, n = time.perf_counter(), 0
        while not self._stop.is_set():
            delay = start + n / self.rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            n += 1
            lines = tuple(CheckoutLine(sku, random.randint(1, 3)) for sku in random.sample(self.skus, random.randint(1, 2)))
            try:
                self.placed.append(place_order(random.choice(self.customers), CheckoutRequest(lines, "card")).pk)
            except Exception:  # the database is down (that is the point): the customer retries later
                self.failed_attempts += 1
                connection.close()
                time.sleep(0.2)
        connection.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


def inject(stack: EmbeddedStack, kind: str) -> None:
    if kind == "relay-worker":
        for pid in stack["relay"].children():
            _signal(pid, signal.SIGKILL)
        stack["relay"].proc.wait(30)  # the launcher exits at once when its worker dies
        time.sleep(random.uniform(0.5, 2))
        stack["relay"].start()
    elif kind == "postgres":
        stack["postgres"].proc.send_signal(signal.SIGQUIT)  # immediate shutdown
        stack["postgres"].proc.wait(30)
        time.sleep(1)
        stack.start_postgres()
    elif kind == "broker":
        stack["broker"].kill()
        time.sleep(random.uniform(0.5, 2))
        stack.start_broker()
    else:
        stack[kind].kill()
        time.sleep(random.uniform(0.5, 2))
        stack[kind].start()


def _signal(pid: int, sig: int) -> None:
    import os
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def revive(stack: EmbeddedStack) -> list[str]:
    """Start whatever died on its own (a finding: it should not have); returns their names."""
    died = [name for name in ["relay", "gateway", *CONSUMERS] if not stack[name].running]
    for name in died:
        stack[name].start()
    return died


def describe_missing(failed: list) -> None:
    """For events missing on the broker: their types, ages and positions (what was lost, and when)."""
    from django.utils import timezone

    from orders_site.eventstore.models import StoredEvent

    for finding in failed:
        if finding.name != "every committed event reached its topic":
            continue
        rows = StoredEvent.objects.filter(event_id__in=finding.offenders).order_by("position")
        now = timezone.now()
        for e in rows.values("position", "event_type", "aggregate_type", "occurred_at")[:50]:
            say(f"    missing: #{e['position']} {e['aggregate_type']}/{e['event_type']} "
                f"committed {(now - e['occurred_at']).total_seconds():.0f}s ago")


def run_chaos(stack: EmbeddedStack, *, seconds: float, rate: float, fault_every: float,
              kinds: list[str] | None = None, drain_timeout: float = 600,
              settle_timeout: float = 60) -> dict[str, object]:
    from django.db import connection

    from orders_site.audit.invariants import check_all
    from orders_site.catalog.services import receive_product
    from orders_site.orders.models import Order
    from orders_site.orders.status import TERMINAL
    from django.contrib.auth import get_user_model

    skus = []
    for n, quantity in enumerate([5, 20, 10_000, 10_000, 10_000]):  # two products run out
        sku = f"CHAOS-{n}-{uuid.uuid4().hex[:4]}"
        receive_product(sku=sku, name=f"Chaos product {n}", price_minor=1000 + 100 * n, quantity=quantity)
        skus.append(sku)
    customers = [get_user_model().objects.create(username=f"chaos-{uuid.uuid4().hex[:8]}").pk for _ in range(20)]
    load = Load(rate, skus, customers)
    faults: Counter = Counter()
    unplanned: list[str] = []
    say(f"chaos: {seconds:.0f}s of load at {rate:.0f} orders/s, a fault every ~{fault_every:.0f}s")
    load.start()
    started = time.monotonic()
    schedule: list[str] = []
    first_round_done = False
    # At least one whole round, however long the faults take (a JVM broker's restart is seconds):
    # every kind is injected once even when `seconds` is short.
    while time.monotonic() - started < seconds or not first_round_done:
        time.sleep(random.uniform(0.5, 1.5) * fault_every)
        if not schedule:  # every kind once per round, in a fresh random order
            schedule = random.sample(kinds or FAULT_KINDS, len(kinds or FAULT_KINDS))
        kind = schedule.pop()
        first_round_done = first_round_done or (not schedule)
        say(f"  fault: {kind} (orders placed so far: {len(load.placed)})")
        try:
            inject(stack, kind)
            faults[kind] += 1
        except Exception as err:  # noqa: BLE001 - report and go on: the checker decides
            say(f"  fault {kind} could not be completed: {err}")
        unplanned += revive(stack)
    load.stop()
    say(f"chaos: faults stopped; {len(load.placed)} orders placed; draining")
    unplanned += revive(stack)
    drain_started = time.monotonic()
    terminal = [s.value for s in TERMINAL]
    while time.monotonic() - drain_started < drain_timeout:
        # What `make run`'s supervisor does all the time: a process that died after the last fault
        # (e.g. the relay, whose task failed while PostgreSQL was still shutting down) is started again.
        unplanned += revive(stack)
        connection.close()
        open_orders = Order.objects.filter(pk__in=load.placed).exclude(status__in=terminal).count()
        if open_orders == 0:
            break
        say(f"  {open_orders} orders still in progress")
        time.sleep(5)
    drained = time.monotonic() - drain_started
    time.sleep(5)  # trailing effects (sale, release, notification) of the last orders
    gateway_url = f"http://{stack.cfg.gateway_host}:{stack.cfg.gateway_port}"
    settle_started = time.monotonic()
    while True:  # a relay still recovering from the last fault may need a little longer
        unplanned += revive(stack)
        connection.close()
        findings = check_all(bootstrap=stack.cfg.kafka_bootstrap, gateway_url=gateway_url,
                             stuck_after=timedelta(seconds=0), published_settle=timedelta(0))
        failed = [f for f in findings if not f.ok]
        if not failed or time.monotonic() - settle_started > settle_timeout:
            break
        say(f"  not settled yet ({'; '.join(f.name for f in failed)}); checking again")
        time.sleep(5)
    for finding in findings:
        print(finding, flush=True)
    describe_missing(failed)
    by_state = Counter(Order.objects.filter(pk__in=load.placed).values_list("status", flat=True))
    stats = consumer_stats(stack)
    return {
        "orders_placed": len(load.placed), "checkout_attempts_failed_during_outages": load.failed_attempts,
        "faults_injected": dict(faults), "unplanned_exits_revived": unplanned,
        "orders_by_final_state": dict(by_state), "duplicates_absorbed_by_consumers": stats["duplicates"],
        "dead_lettered": stats["dead_lettered"], "relay_starts": stack["relay"].starts,
        "drain_seconds": round(drained, 1), "settle_seconds": round(time.monotonic() - settle_started, 1),
        "invariants": {f.name: ("ok" if f.ok else f"FAIL: {f.summary}") for f in findings},
        "all_invariants_hold": all(f.ok for f in findings),
    }
