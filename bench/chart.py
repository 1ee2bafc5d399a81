"""The benchmark report as one PNG: whichever of the api / relay / saga sections a run produced."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def draw(report: dict[str, Any], out: Path) -> Path | None:
    """Write `out` (PNG) with one panel per section present; None when there is nothing to draw."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    import matplotlib.pyplot as plt

    saga = report.get("saga") or {}
    present = {"api": "api" in report, "relay": "relay" in report, "saga": bool(saga.get("ramp")),
               "saga-cpu": bool(saga.get("ramp")) and "cpu_cores" in saga["ramp"][-1],
               "memory": bool(_memory_rows(report))}
    panels = [(name, fn) for name, fn in [("api", _api), ("relay", _relay), ("saga", _saga_ramp),
                                          ("saga", _saga_latency), ("saga-cpu", _saga_cpu), ("memory", _memory)]
              if present[name]]
    if not panels:
        return None
    cols = 2
    rows = (len(panels) + 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(13, 4.6 * rows), squeeze=False)
    for ax, (name, fn) in zip(axes.flat, panels):
        fn(ax, report)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    m = report.get("machine", {})
    fig.suptitle(f"Order pipeline benchmark - {m.get('date_utc', '?')} - {m.get('cores', '?')} cores "
                 f"({m.get('cpu', '?')})", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def _api(ax, report: dict[str, Any]) -> None:
    api = report["api"]
    runs = api["http"]
    labels = [f"{r['connections']} conns" for r in runs]  # text, not numbers, on the axis
    bars = ax.bar(labels, [r["orders_per_second"] for r in runs], color="#4c72b0", label="HTTP checkout (wrk)")
    for bar, run in zip(bars, runs):
        ax.annotate(f"p99 {run['p99_ms']:.0f} ms", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    ax.axhline(api["raw_sql"]["transactions_per_second"], color="#55a868", linestyle="--",
               label=f"same transaction as raw SQL ({api['raw_sql']['connections']} conns)")
    ax.axhline(api["target"]["orders_per_second"], color="#c44e52", linestyle=":", label="target")
    ax.set(title="Checkout API throughput", xlabel="concurrent HTTP connections", ylabel="orders/s")
    ax.legend(fontsize=8)


def _relay(ax, report: dict[str, Any]) -> None:
    relay = report["relay"]
    pcts = ["p50_ms", "p95_ms", "p99_ms"]
    x = range(len(pcts))
    series = [("Postgres -> Debezium -> broker -> consumer", relay.get("latency"), "#4c72b0", -0.2),
              ("broker alone", relay.get("broker_floor"), "#8172b2", 0.2)]
    for label, data, color, shift in series:
        if data:
            ax.bar([i + shift for i in x], [data[p] for p in pcts], width=0.4, color=color, label=label)
    ax.axhline(50, color="#c44e52", linestyle=":", label="target p99")
    ax.set_xticks(list(x), ["p50", "p95", "p99"])
    rate = (relay.get("latency") or {}).get("rate_target", "?")
    drain = (relay.get("drain") or {}).get("median_events_per_second")
    title = f"Commit-to-Kafka latency, {rate:.0f} events/s" if isinstance(rate, float) else "Commit-to-Kafka latency"
    ax.set(title=title + (f"; drain {drain:,}/s" if drain else ""), ylabel="ms")
    ax.legend(fontsize=8)


def _saga_ramp(ax, report: dict[str, Any]) -> None:
    for step in report["saga"]["ramp"]:
        samples = step["backlog_samples"]
        mark = "" if step["sustained"] else " (not sustained)"
        ax.plot([t for t, _ in samples], [v for _, v in samples], label=f"{step['rate']:.0f} orders/s{mark}")
    ax.set(title="Saga backlog while loaded (orders not yet notified)", xlabel="seconds into the step",
           ylabel="orders")
    ax.legend(fontsize=8)


def _saga_latency(ax, report: dict[str, Any]) -> None:
    saga = report["saga"]
    rows = [(f"{s['rate']:.0f}/s", s["completion"]) for s in saga["ramp"]]
    rows.append((f"{saga['completion']['load']['rate_target']:.0f}/s burst", saga["completion"]))
    labels = [r[0] for r in rows]
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], [r[1]["final_state"]["p50_ms"] for r in rows], width=0.4, label="p50")
    ax.bar([i + 0.2 for i in x], [r[1]["final_state"]["p99_ms"] for r in rows], width=0.4, label="p99")
    ax.axhline(500, color="#c44e52", linestyle=":", label="target p99")
    ax.set_yscale("log")
    ax.set_xticks(list(x), labels)
    ax.set(title="Order completion latency (checkout commit -> final state)", ylabel="ms (log)")
    ax.legend(fontsize=8)


def _saga_cpu(ax, report: dict[str, Any]) -> None:
    saga = report["saga"]
    idle = saga.get("idle_cpu_cores", {})
    loaded = saga["ramp"][-1]
    names = sorted(loaded["cpu_cores"], key=lambda n: loaded["cpu_cores"][n])
    y = range(len(names))
    ax.barh([i + 0.2 for i in y], [loaded["cpu_cores"][n] for n in names], height=0.4, color="#c44e52",
            label=f"at {loaded['rate']:.0f} orders/s")
    ax.barh([i - 0.2 for i in y], [idle.get(n, 0.0) for n in names], height=0.4, color="#8c8c8c", label="idle")
    ax.set_yticks(list(y), names)
    ax.set(title="Where the 2 cores go in the saga (cores busy per component)", xlabel="cores")
    ax.legend(fontsize=8)


def _memory_rows(report: dict[str, Any]) -> dict[str, float]:
    rows: dict[str, float] = {}
    for section in ("relay", "api", "saga"):
        for name, m in ((report.get(section) or {}).get("memory") or {}).items():
            rows[name] = max(rows.get(name, 0.0), m["peak_mb_largest"])
    return rows


def _memory(ax, report: dict[str, Any]) -> None:
    rows = sorted(_memory_rows(report).items(), key=lambda kv: kv[1])
    ax.barh([k for k, _ in rows], [v for _, v in rows], color="#dd8452")
    ax.set(title="Peak memory (VmHWM), largest process per component", xlabel="MB")
