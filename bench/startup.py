"""Start-up benchmark of `make run` itself: seconds from `python -m stack run` to its ready block
on an empty data directory (several first starts in a row, each must succeed) and on an existing
one, and the CPU the whole supervised stack burns while idle."""
from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from stack import config, postgres, supervision
from stack.harness import SupervisedRun, free_port, on_free_ports, process_tree

from .stackup import cpu_seconds_of, say

TARGET_IDLE_CORES = 0.10


def cpu_seconds_of_tree(root: int) -> float:
    return cpu_seconds_of(process_tree(root))


def idle_cpu(run: SupervisedRun, seconds: float) -> dict[str, object]:
    """Cores used per process, and in all, by the supervised stack with nothing to do."""
    pids = {s.name: s.pid for s in supervision.states(run.cfg)}
    before_total = cpu_seconds_of_tree(run.proc.pid)
    before = {name: cpu_seconds_of_tree(pid) for name, pid in pids.items()}
    time.sleep(seconds)
    after = {name: cpu_seconds_of_tree(pid) for name, pid in pids.items()}
    total = (cpu_seconds_of_tree(run.proc.pid) - before_total) / seconds
    per_process = {name: round((after[name] - before[name]) / seconds, 4) for name in pids}
    return {"seconds": seconds, "cores_total": round(total, 3), "per_process_cores": per_process,
            "target_cores": TARGET_IDLE_CORES, "idle_met": total <= TARGET_IDLE_CORES}


def measure(first_starts: int = 5, idle_seconds: float = 30.0, settle_seconds: float = 20.0) -> dict[str, object]:
    firsts: list[dict[str, object]] = []
    report: dict[str, object] = {}
    for n in range(first_starts):
        data_dir = Path(tempfile.mkdtemp(prefix="orders-start-"))
        run = SupervisedRun(on_free_ports(replace(config.load(), data_dir=data_dir, db_port=free_port())))
        try:
            run.start()
            try:
                ready = run.wait_ready()
            except Exception as err:  # noqa: BLE001 - a failed first start is the finding
                firsts.append({"ok": False, "error": str(err)[-2000:]})
                say(f"first start {n + 1}/{first_starts}: FAILED")
                continue
            firsts.append({"ok": True, "ready_seconds": ready})
            say(f"first start {n + 1}/{first_starts}: ready in {ready:.1f} s")
            if n == 0:
                say(f"idle: letting the stack settle {settle_seconds:.0f} s, then measuring {idle_seconds:.0f} s")
                time.sleep(settle_seconds)
                report["idle"] = idle_cpu(run, idle_seconds)
                say(f"idle: {report['idle']['cores_total']} cores in all")
                report["stop_exit_code"] = run.stop()
                run.start()
                report["restart_ready_seconds"] = run.wait_ready()
                say(f"second start on the same data: ready in {report['restart_ready_seconds']:.1f} s")
            firsts[-1]["stop_exit_code"] = run.stop()
        finally:
            run.stop()
            shutil.rmtree(postgres.cluster_dir(run.cfg).parent if postgres.cluster_dir(run.cfg) != run.cfg.pg_data
                          else data_dir, ignore_errors=True)
            shutil.rmtree(data_dir, ignore_errors=True)
    ok = [f["ready_seconds"] for f in firsts if f.get("ok")]
    report.update({"first_starts": firsts, "first_starts_ok": len(ok), "first_starts_tried": first_starts,
                   "first_start_ready_seconds_median": sorted(ok)[len(ok) // 2] if ok else None})
    return report
