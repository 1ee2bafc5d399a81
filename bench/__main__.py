"""`python -m bench [all|start|relay|api|saga|handlers|chaos] [options]` (make bench = all): run benchmarks,
each suite on its own private stack, print a summary and write it as JSON and a PNG chart (not for
chaos) to bench/results/."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

from .stackup import machine, peak_memory, private_stack, say

RESULTS = Path(__file__).resolve().parent / "results"


def run_relay(args: argparse.Namespace) -> dict[str, object]:
    from . import relay

    with private_stack() as stack:
        report: dict[str, object] = {}
        relay.warm_up(stack.cfg.kafka_bootstrap)  # a relay in service is warm; a fresh JVM is not
        if not args.skip_latency:
            report["latency"] = relay.measure_latency(stack.cfg.kafka_bootstrap, args.rate, args.seconds)
            say(f"latency: {report['latency']}")
            report["broker_floor"] = relay.measure_broker_floor(stack.cfg.kafka_bootstrap, args.rate, 10)
            say(f"broker floor: {report['broker_floor']}")
        if not args.skip_drain:
            runs = []
            for n in range(args.drain_runs):  # single runs vary by +-20% on 2 shared cores
                runs.append(relay.measure_drain(stack.cfg.kafka_bootstrap, args.backlog))
                say(f"drain run {n + 1}/{args.drain_runs}: {runs[-1]['events_per_second']} events/s")
            rates = sorted(r["events_per_second"] for r in runs)
            report["drain"] = {"runs": runs, "median_events_per_second": rates[len(rates) // 2],
                               "target_events_per_second": relay.TARGET_DRAIN,
                               "drain_met": all(r["complete"] for r in runs)
                               and rates[len(rates) // 2] >= relay.TARGET_DRAIN}
        report["memory"] = peak_memory(stack)
    return {"relay": report}


def run_start(args: argparse.Namespace) -> dict[str, object]:
    from . import startup

    return {"start": startup.measure(first_starts=args.first_starts, idle_seconds=args.idle_seconds)}


def run_api(args: argparse.Namespace) -> dict[str, object]:
    import os

    from . import api

    os.environ["API_SERVER_TIMING"] = "1"  # the per-layer profile reads the web process's Server-Timing header
    with private_stack(web=True) as stack:
        conns = [int(c) for c in args.api_connections.split(",")]
        result = api.measure(stack, connections=conns, seconds=args.api_seconds, rounds=args.api_rounds,
                             warm_up_seconds=args.api_warm_up_seconds)
        result["memory"] = peak_memory(stack)
        return {"api": result}


def run_saga(args: argparse.Namespace) -> dict[str, object]:
    from . import saga

    with private_stack(gateway=True, consumers=True) as stack:
        ramp = [float(r) for r in args.saga_ramp.split(",")]
        return {"saga": saga.measure(stack, completion_rate=args.completion_rate,
                                     completion_seconds=args.completion_seconds, ramp=ramp,
                                     step_seconds=args.step_seconds,
                                     warm_up=(args.warm_up_rate, args.warm_up_seconds))}


def run_handlers(args: argparse.Namespace) -> dict[str, object]:
    from . import handlers

    with private_stack(relay=False, gateway=True) as stack:
        return {"handlers": handlers.measure(stack, batch_orders=[int(b) for b in args.handler_batches.split(",")],
                                             orders=args.handler_orders)}


def run_all(args: argparse.Namespace) -> dict[str, object]:
    """Every benchmark, one private stack each (the API run must not share cores with the consumers)."""
    report: dict[str, object] = {}
    for name, run in [("start", run_start), ("relay", run_relay), ("api", run_api), ("saga", run_saga),
                      ("handlers", run_handlers)]:
        say(f"===== {name} =====")
        report.update(run(args))
    return report


def run_chaos(args: argparse.Namespace) -> dict[str, object]:
    import os

    from . import chaos

    os.environ.setdefault("GATEWAY_FAULTS", chaos.GATEWAY_FAULTS)
    with private_stack(gateway=True, consumers=True) as stack:
        kinds = args.fault_kinds.split(",") if args.fault_kinds else None
        unknown = set(kinds or []) - set(chaos.FAULT_KINDS)
        if unknown:
            raise SystemExit(f"unknown fault kinds {sorted(unknown)}; choose from {', '.join(chaos.FAULT_KINDS)}")
        return {"chaos": chaos.run_chaos(stack, seconds=args.chaos_seconds, rate=args.order_rate,
                                         fault_every=args.fault_every, kinds=kinds)}


def headline(report: dict) -> list[str]:
    """The figures with targets, one line each, with met / MISSED (docs/benchmarks.md)."""
    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    lines = []
    if start := report.get("start"):
        idle = start.get("idle", {})
        lines.append(f"make run to ready: first start {start['first_start_ready_seconds_median']} s (median of "
                     f"{start['first_starts_ok']}/{start['first_starts_tried']} successful first starts), "
                     f"second start {start.get('restart_ready_seconds')} s")
        if idle:
            lines.append(f"idle CPU of the whole stack: {idle['cores_total']} cores "
                         f"(target <= {idle['target_cores']}: {verdict(idle['idle_met'])})")
    if api := report.get("api"):
        at4 = api["at_4_connections"]
        lines.append(f"checkout API at {at4['connections']} connections: {at4['api_orders_per_second']} orders/s, "
                     f"p99 {at4['api_p99_ms']:.0f} ms (target < {api['target']['p99_ms']:.0f} ms: "
                     f"{verdict(api['p99_at_4_met'])}); raw SQL of the same checkout {at4['raw_sql_tx_per_second']} "
                     f"tx/s; API/SQL {at4['api_to_sql_ratio']} (target >= {api['target']['api_to_sql_ratio']}: "
                     f"{verdict(api['ratio_met'])})")
        for pair in api["same_concurrency"]:
            if pair is not at4:
                lines.append(f"  at {pair['connections']} connections: API {pair['api_orders_per_second']} orders/s "
                             f"(p99 {pair['api_p99_ms']:.0f} ms), raw SQL {pair['raw_sql_tx_per_second']} tx/s, "
                             f"API/SQL {pair['api_to_sql_ratio']}")
        lines.append(f"  one checkout: {api['statements_per_checkout']} SQL statements, "
                     f"{api['round_trips_per_checkout']} round trips")
        lines.append(f"  CPU ms per order at {at4['connections']} connections: {at4['cpu_ms_per_order']}; "
                     f"per raw SQL transaction: {at4['cpu_ms_per_raw_tx']}")
        best = api["best"]
        lines.append(f"  best: {best['orders_per_second']} orders/s at {best['connections']} connections "
                     f"(target 1000/s with p99 < 50 ms: {verdict(api['target_met'])})")
        budget = api["layer_profile"]["layers_ms"]
        lines.append("  p99 per layer (ms): " + ", ".join(f"{k} {v['p99']}" for k, v in budget.items()))
    if (relay := report.get("relay")) and relay.get("latency"):
        lat = relay["latency"]
        lines.append(f"commit-to-Kafka at {lat['rate_target']:.0f} events/s: p50 {lat['p50_ms']} ms, p95 {lat['p95_ms']} ms, "
                     f"p99 {lat['p99_ms']} ms (target p99 <= {lat['target_p99_ms']:.0f} ms: {verdict(lat['p99_met'])})")
        floor = relay["broker_floor"]
        lines.append(f"broker alone at the same rate: p50 {floor['p50_ms']} ms, p99 {floor['p99_ms']} ms "
                     f"(target p99 <= {floor['target_p99_ms']:.0f} ms: {verdict(floor['p99_met'])})")
    if relay and relay.get("drain"):
        drain = relay["drain"]
        lines.append(f"relay backlog drain: {drain['median_events_per_second']} events/s (median; target >= "
                     f"{drain['target_events_per_second']:.0f}: {verdict(drain['drain_met'])})")
    if saga := report.get("saga"):
        c = saga["completion"]
        lines.append(f"order completion at {c['load']['rate_target']:.0f} orders/s offered ({c['load']['rate_achieved']} "
                     f"placed): p50 {c['final_state']['p50_ms']} ms, p99 {c['final_state']['p99_ms']} ms "
                     f"(target p99 < 500 ms: {verdict(c['p99_met'])})")
        lines.append(f"highest sustained saga rate: {saga['highest_sustained_rate']:.0f} orders/s "
                     f"(target 300: {verdict(saga['sustained_met'])})")
    if handlers := report.get("handlers"):
        for run in handlers["runs"]:
            lines.append(f"consumers in-process, {run['orders_per_round']} orders per batch: {run['cpu_ms_per_order']} ms "
                         f"of CPU per order, {run['transactions_per_order']} transactions, "
                         f"{run['statements_per_order']} statements")
        if split := handlers.get("split"):
            lines.append(f"  = {split['cpu_ms_per_order']} ms per order + {split['cpu_ms_per_round_of_batches']} ms "
                         "per round of batches (one batch per service and saga step)")
    if chaos := report.get("chaos"):
        lines.append(f"chaos: {chaos['orders_placed']} orders, faults {chaos['faults_injected']}, drained in "
                     f"{chaos['drain_seconds']} s, invariants {'hold' if chaos['all_invariants_hold'] else 'FAIL'}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("suite", nargs="?", default="all", choices=["all", "start", "relay", "api", "saga", "handlers", "chaos"])
    parser.add_argument("--first-starts", type=int, default=5, help="start: first starts on an empty data directory")
    parser.add_argument("--idle-seconds", type=float, default=30.0, help="start: seconds of idle CPU measurement")
    parser.add_argument("--chaos-seconds", type=float, default=180.0, help="chaos: seconds of faults under load")
    parser.add_argument("--order-rate", type=float, default=5.0,
                        help="chaos: orders per second (the saga sustains ~8/s on 2 cores without faults)")
    parser.add_argument("--fault-every", type=float, default=8.0, help="chaos: mean seconds between faults")
    parser.add_argument("--fault-kinds", default="", help="chaos: comma-separated subset of fault kinds (default all)")
    parser.add_argument("--api-connections", default="4,16", help="api: concurrent HTTP connections per run "
                        "(the raw SQL replay runs at each too, right after)")
    parser.add_argument("--api-seconds", type=float, default=15.0,
                        help="api: seconds per side (HTTP, raw SQL) and concurrency")
    parser.add_argument("--api-rounds", type=int, default=3,
                        help="api: alternating HTTP / raw SQL slices per concurrency (a shared machine's load "
                             "drifts within a minute; both sides see the same drift)")
    parser.add_argument("--completion-rate", type=float, default=100.0, help="saga: orders/s for completion latency")
    parser.add_argument("--completion-seconds", type=float, default=10.0, help="saga: seconds of that load")
    parser.add_argument("--saga-ramp", default="4,6,8,10,12,15,20,40,80,150,300",
                        help="saga: order rates tried, low to high, for the highest sustained rate")
    parser.add_argument("--step-seconds", type=float, default=30.0, help="saga: seconds per ramp step")
    parser.add_argument("--api-warm-up-seconds", type=float, default=60.0,
                        help="api: seconds of checkouts at 4 connections before measuring (the JVMs compile meanwhile)")
    parser.add_argument("--warm-up-rate", type=float, default=50.0,
                        help="saga: orders/s before anything is measured (the JVMs compile their hot paths)")
    parser.add_argument("--warm-up-seconds", type=float, default=180.0,
                        help="saga: seconds of that warm-up (the JVMs' compilers settle in 2-3 minutes of load)")
    parser.add_argument("--handler-batches", default="1,5,20,50",
                        help="handlers: orders per round, i.e. per batch of each service and saga step")
    parser.add_argument("--handler-orders", type=int, default=600, help="handlers: orders measured per batch size")
    parser.add_argument("--rate", type=float, default=200.0, help="events/s for the latency run")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds of the latency run")
    parser.add_argument("--backlog", type=int, default=50_000, help="events in the drain run")
    parser.add_argument("--drain-runs", type=int, default=3)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-drain", action="store_true")
    args = parser.parse_args(argv)
    # SIGTERM must unwind through private_stack's clean-up, or the stack's processes outlive us.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    suites = {"all": run_all, "start": run_start, "chaos": run_chaos, "api": run_api, "relay": run_relay,
              "saga": run_saga, "handlers": run_handlers}
    report = {"machine": machine(), **suites[args.suite](args)}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{args.suite}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2))
    print("\n===== report =====")
    print(json.dumps(report, indent=2))
    print(f"written to {out}")
    print("\n===== against the targets =====")
    for line in headline(report):
        print(line)
    if args.suite != "chaos":
        from .chart import draw

        png = draw(report, out.with_suffix(".png"))
        if png:
            print(f"chart: {png}")
    if args.suite == "chaos" and not report["chaos"]["all_invariants_hold"]:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
