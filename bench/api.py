"""Checkout API benchmark: HTTP throughput and latency next to the raw SQL rate of the same transaction.

The HTTP side is wrk (C, Debian package) against the real web process (Granian), closed loop with N
concurrent connections, every request a new order with its own Idempotency-Key. The SQL side replays
the exact statements one API checkout issued (captured through Django's execute wrapper), with fresh
ids each time, from N processes holding one psycopg connection each and no Python framework in
between, at the same N right after the HTTP run. The ratio API/SQL at each N says how much of the
database's capacity the web tier delivers.

The per-layer budget comes from the app's own profile: with API_SERVER_TIMING=1 every response
carries a Server-Timing header (orders_site/api/timing.py) with the time spent in each layer; a
keep-alive client at 4 connections collects them and the bench prints p50/p99 per layer.
"""
from __future__ import annotations

import json
import multiprocessing
import re
import resource
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .stackup import cpu_seconds, percentile, say

TARGET_RATE = 1000.0
TARGET_P99_MS = 50.0
TARGET_RATIO = 0.6  # API orders/s over raw-SQL tx/s of the same checkout, same connections
PROFILE_CONNECTIONS = 4
# The layers the checkout view times, in order, and what the bench derives around them.
LAYERS = ("framework", "auth", "validation", "idempotency", "order", "response")
RAW_SQL_MAX_CONNECTIONS = 16

# wrk runs this per thread: a unique Idempotency-Key per request, a small random basket.
WRK_SCRIPT = """
local skus = {%(skus)s}
counter = 0
threads_started = 0
function setup(thread)
  -- runs in the main Lua state; each thread's own state gets its number as the global `tid`
  threads_started = threads_started + 1
  thread:set("tid", threads_started)
end
function init(args)
  math.randomseed(os.time() + tid)
end
function request()
  counter = counter + 1
  local sku = skus[math.random(#skus)]
  local body = '{"items":[{"sku":"' .. sku .. '","quantity":' .. math.random(3) .. '}],"payment_method":"card"}'
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Token %(token)s",
                   ["Idempotency-Key"] = "wrk-%(run)s-" .. tid .. "-" .. counter}
  return wrk.format("POST", "/api/orders/", headers, body)
end
function done(summary, latency, requests)
  io.write(string.format('WRK_RESULT {"requests":%%d,"duration_us":%%d,"non_2xx":%%d,"socket_errors":%%d,' ..
    '"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d}\\n', summary.requests, summary.duration,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    say("installing wrk (Debian package) for the HTTP load")
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, stdout=subprocess.DEVNULL, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL, env=env)
    return shutil.which("wrk") or "wrk"


def bench_customer() -> tuple[str, list[str]]:
    """A customer with an API token and a few products with ample stock; returns (token, skus)."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from orders_site.catalog.services import receive_product

    user = get_user_model().objects.create(username=f"bench-{uuid.uuid4().hex[:8]}")
    token = Token.objects.create(user=user)
    skus = []
    for n in range(4):
        sku = f"BENCH-{n}-{uuid.uuid4().hex[:4]}"
        receive_product(sku=sku, name=f"Bench product {n}", price_minor=500 + n, quantity=10_000_000)
        skus.append(sku)
    return token.key, skus


def run_wrk(base_url: str, token: str, skus: list[str], connections: int, seconds: float) -> dict[str, Any]:
    script = WRK_SCRIPT % {"skus": ",".join(f'"{s}"' for s in skus), "token": token, "run": uuid.uuid4().hex[:8]}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    threads = min(2, connections)
    out = subprocess.run([ensure_wrk(), f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "10s",
                          "-s", f.name, base_url], capture_output=True, text=True, timeout=seconds + 60)
    Path(f.name).unlink()
    match = re.search(r"WRK_RESULT (\{.*\})", out.stdout)
    if not match:
        raise RuntimeError(f"wrk gave no result:\n{out.stdout}\n{out.stderr}")
    raw = json.loads(match.group(1))
    duration = raw["duration_us"] / 1e6
    return {"connections": connections, "seconds": round(duration, 1), "requests": raw["requests"],
            "non_2xx": raw["non_2xx"], "socket_errors": raw["socket_errors"],
            "orders_per_second": round((raw["requests"] - raw["non_2xx"]) / duration, 1),
            "p50_ms": raw["p50_us"] / 1000, "p90_ms": raw["p90_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
            "max_ms": raw["max_us"] / 1000}


# -- the same transaction, as raw SQL ------------------------------------------------------------

@dataclass
class Statement:
    sql: str
    params: Any
    transaction: int | None  # which transaction it ran in (None: autocommit, a round trip of its own)

    @property
    def in_transaction(self) -> bool:
        return self.transaction is not None


def round_trips(statements: list[Statement]) -> int:
    """Statements plus the BEGIN and COMMIT of each transaction (psycopg sends each on its own)."""
    transactions = len({st.transaction for st in statements if st.in_transaction})
    return len(statements) + 2 * transactions


def capture_checkout(token: str, sku: str) -> tuple[list[Statement], set[str]]:
    """Run one API checkout in-process and record every statement it sends, with the values that are
    unique per order (ids, order number, idempotency key) that a replay must renew."""
    from django.db import connection
    from django.test import Client

    from orders_site.orders.models import Order

    statements: list[Statement] = []
    blocks: list[object] = []  # outermost atomic blocks seen, kept alive so no two share an identity

    def transaction_number() -> int | None:
        """Which transaction runs now: two atomic blocks in a row are two transactions, two BEGINs."""
        if not connection.in_atomic_block:
            return None
        block = connection.atomic_blocks[0]
        for n, seen in enumerate(blocks):
            if seen is block:
                return n
        blocks.append(block)
        return len(blocks) - 1

    def record(execute, sql, params, many, context):  # noqa: ANN001 - Django's wrapper protocol
        statements.append(Statement(sql, params, transaction_number()))
        return execute(sql, params, many, context)

    key = f"capture-{uuid.uuid4().hex}"
    body = {"items": [{"sku": sku, "quantity": 1}], "payment_method": "card"}
    with connection.execute_wrapper(record):
        response = Client().post("/api/orders/", body, content_type="application/json", HTTP_HOST="127.0.0.1",
                                 HTTP_AUTHORIZATION=f"Token {token}", HTTP_IDEMPOTENCY_KEY=key)
    if response.status_code != 201:
        raise RuntimeError(f"capture checkout failed: {response.status_code} {response.content[:300]!r}")
    order = Order.objects.get(pk=response.json()["id"])
    from orders_site.eventstore.models import StoredEvent
    unique = {key, order.number, str(order.pk), *(str(e) for e in StoredEvent.objects.filter(
        aggregate_id=str(order.pk)).values_list("event_id", flat=True))}
    return statements, unique


def _renew(value: Any, fresh: dict[str, str]) -> Any:
    if isinstance(value, uuid.UUID):
        return uuid.UUID(fresh.get(str(value), str(value)))
    if isinstance(value, str):
        for old, new in fresh.items():
            if old in value:
                value = value.replace(old, new)
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_renew(v, fresh) for v in value)
    return value


def _fresh_values(unique: set[str]) -> dict[str, str]:
    fresh = {}
    for value in unique:
        try:
            uuid.UUID(value)
            fresh[value] = str(uuid.uuid4())
        except ValueError:  # order number / key: same length, new random tail
            fresh[value] = value[: len(value) - 10] + uuid.uuid4().hex[:10].upper()
    return fresh


def _sql_worker(dsn: str, statements: list[Statement], unique: set[str], seconds: float,
                queue: multiprocessing.Queue, options: dict[str, Any]) -> None:
    import psycopg

    latencies: list[float] = []
    # Bound and prepared as the app's connections are (orders_site/settings.py, DATABASES OPTIONS):
    # the replay is the same transaction, sent the same way.
    server_side = options.get("server_side_binding") is True
    with psycopg.connect(dsn, autocommit=True, cursor_factory=psycopg.Cursor if server_side else psycopg.ClientCursor,
                         prepare_threshold=options.get("prepare_threshold") if server_side else None) as conn:
        cur = conn.cursor()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            fresh = _fresh_values(unique)
            started = time.perf_counter()
            in_tx = None
            for st in statements:
                if st.transaction != in_tx:
                    if in_tx is not None:
                        cur.execute("COMMIT")
                    if st.transaction is not None:
                        cur.execute("BEGIN")
                    in_tx = st.transaction
                cur.execute(st.sql, _renew(st.params, fresh))
            if in_tx is not None:
                cur.execute("COMMIT")
            latencies.append(time.perf_counter() - started)
    queue.put(latencies)


def run_raw_sql(dsn: str, statements: list[Statement], unique: set[str], workers: int,
                seconds: float) -> dict[str, Any]:
    from django.conf import settings

    ctx = multiprocessing.get_context("fork")  # params may hold Django adapters; Django connections are closed first
    queue: multiprocessing.Queue = ctx.Queue()
    options = dict(settings.DATABASES["default"].get("OPTIONS", {}))
    procs = [ctx.Process(target=_sql_worker, args=(dsn, statements, unique, seconds, queue, options))
             for _ in range(workers)]
    for p in procs:
        p.start()
    latencies = sorted(x for _ in procs for x in queue.get(timeout=seconds + 120))
    for p in procs:
        p.join(30)
    return {"connections": workers, "seconds": seconds, "transactions": len(latencies),
            "transactions_per_second": round(len(latencies) / seconds, 1),
            "p50_ms": round(percentile(latencies, 50) * 1000, 2), "p99_ms": round(percentile(latencies, 99) * 1000, 2),
            "latencies": latencies}


def parse_server_timing(header: str) -> dict[str, float]:
    """`a;dur=1.5, b;dur=0.2` -> {"a": 1.5, "b": 0.2} (milliseconds)."""
    out: dict[str, float] = {}
    for part in header.split(","):
        name, _, rest = part.strip().partition(";")
        match = re.search(r"dur=([0-9.]+)", rest)
        if name and match:
            out[name] = out.get(name, 0.0) + float(match.group(1))
    return out


def _profile_client(host: str, port: int, token: str, skus: list[str], seconds: float, tid: int,
                    queue: multiprocessing.Queue) -> None:
    import http.client
    import random

    samples: list[dict[str, float]] = []
    conn = http.client.HTTPConnection(host, port, timeout=10)
    deadline = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < deadline:
        n += 1
        body = json.dumps({"items": [{"sku": random.choice(skus), "quantity": random.randint(1, 3)}],
                           "payment_method": "card"})
        started = time.perf_counter()
        conn.request("POST", "/api/orders/", body, {
            "Content-Type": "application/json", "Authorization": f"Token {token}",
            "Idempotency-Key": f"profile-{tid}-{n}-{uuid.uuid4().hex[:8]}"})
        response = conn.getresponse()
        response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status == 201:
            timing = parse_server_timing(response.getheader("Server-Timing") or "")
            timing["client"] = elapsed
            samples.append(timing)
    conn.close()
    queue.put(samples)


def layer_budget(samples: list[dict[str, float]]) -> dict[str, Any]:
    """p50/p99 per layer, plus `rest of the app` (middleware, WSGI: app minus the layers) and
    `outside the app` (the HTTP server, sockets, the client: client minus app)."""
    derived = []
    for s in samples:
        d = {k: s.get(k, 0.0) for k in LAYERS}
        d["rest of the app"] = max(0.0, s.get("app", 0.0) - sum(d.values()))
        d["outside the app"] = max(0.0, s["client"] - s.get("app", 0.0))
        d["total (client)"] = s["client"]
        derived.append(d)
    names = [*LAYERS, "rest of the app", "outside the app", "total (client)"]
    return {"requests": len(samples), "layers_ms": {
        name: {"p50": round(percentile(sorted(d[name] for d in derived), 50), 2),
               "p99": round(percentile(sorted(d[name] for d in derived), 99), 2)} for name in names}}


def profile_layers(stack, token: str, skus: list[str], seconds: float,
                   connections: int = PROFILE_CONNECTIONS) -> dict[str, Any]:
    """Checkouts from `connections` keep-alive clients (one process each), timed per layer."""
    ctx = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue = ctx.Queue()
    procs = [ctx.Process(target=_profile_client, args=(stack.cfg.web_host, stack.cfg.web_port, token, skus,
                                                       seconds, n, queue)) for n in range(connections)]
    for p in procs:
        p.start()
    samples = [x for _ in procs for x in queue.get(timeout=seconds + 60)]
    for p in procs:
        p.join(30)
    if not samples or "app" not in samples[0]:  # an app without timing.py (an older commit)
        say("api: no Server-Timing header from the web process; layers unknown, client latency only")
        samples = [{"client": s["client"]} for s in samples]
    return {"connections": connections, **layer_budget(samples)}


@contextmanager
def cpu_used(stack, into: dict[str, float]) -> Iterator[None]:
    """Add the CPU seconds the web and postgres processes and this process's children (wrk, the SQL
    clients) use inside the block to `into`. CPU time is what a busy neighbour disturbs least."""
    def read() -> dict[str, float]:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        per_component = cpu_seconds(stack)
        return {"web": per_component.get("web", 0.0), "postgres": per_component.get("postgres", 0.0),
                "load": children.ru_utime + children.ru_stime}
    before = read()
    yield
    after = read()
    for name in before:
        into[name] = into.get(name, 0.0) + after[name] - before[name]


def per_unit(cpu: dict[str, float], units: int, load_name: str) -> dict[str, float]:
    """CPU milliseconds per order (or transaction), by process group."""
    return {(load_name if name == "load" else name): round(seconds * 1000 / max(units, 1), 2)
            for name, seconds in cpu.items() if name != "web" or seconds > 0}


def interleaved(stack, base_url: str, token: str, skus: list[str], dsn: str, statements: list[Statement],
                unique: set[str], connections: int, seconds: float, rounds: int) -> tuple[dict, dict]:
    """HTTP and raw SQL at the same concurrency in alternating slices (`rounds` of each, `seconds` in
    all per side), so both see the same background load on a shared machine; merged per side: rates
    over the summed time, the raw side's percentiles over all its latencies, the HTTP side's p99 the
    worst slice's (wrk's percentiles cannot be merged)."""
    slice_seconds = max(2.0, seconds / rounds)
    http_slices, raw_slices = [], []
    http_cpu: dict[str, float] = {}
    raw_cpu: dict[str, float] = {}
    for _ in range(rounds):
        with cpu_used(stack, http_cpu):
            http_slices.append(run_wrk(base_url, token, skus, connections, slice_seconds))
        with cpu_used(stack, raw_cpu):
            # One process per connection: past 16 the 2 cores only switch between them.
            raw_slices.append(run_raw_sql(dsn, statements, unique, min(connections, RAW_SQL_MAX_CONNECTIONS),
                                          slice_seconds))
    duration = sum(h["seconds"] for h in http_slices)
    requests = sum(h["requests"] for h in http_slices)
    non_2xx = sum(h["non_2xx"] for h in http_slices)
    http = {"connections": connections, "seconds": round(duration, 1), "requests": requests, "non_2xx": non_2xx,
            "socket_errors": sum(h["socket_errors"] for h in http_slices),
            "orders_per_second": round((requests - non_2xx) / duration, 1),
            **{k: max(h[k] for h in http_slices) for k in ("p99_ms", "max_ms")},
            **{k: sorted(h[k] for h in http_slices)[len(http_slices) // 2] for k in ("p50_ms", "p90_ms")},
            "slices": http_slices, "cpu_ms_per_order": per_unit(http_cpu, requests - non_2xx, "wrk")}
    latencies = sorted(x for r in raw_slices for x in r.pop("latencies"))
    raw_seconds = sum(r["seconds"] for r in raw_slices)
    raw = {"connections": raw_slices[0]["connections"], "seconds": raw_seconds, "transactions": len(latencies),
           "transactions_per_second": round(len(latencies) / raw_seconds, 1),
           "p50_ms": round(percentile(latencies, 50) * 1000, 2), "p99_ms": round(percentile(latencies, 99) * 1000, 2),
           "slices": raw_slices, "cpu_ms_per_tx": per_unit(raw_cpu, len(latencies), "SQL clients")}
    return http, raw


def measure(stack, *, connections: list[int], seconds: float, rounds: int = 3,
            warm_up_seconds: float = 60.0) -> dict[str, Any]:
    """A warm-up, then at each concurrency: HTTP and the raw SQL replay of one checkout's statements,
    interleaved in `rounds` slices each (same minutes, same machine load); then the per-layer profile.

    The warm-up runs as long as the two JVMs take to compile their hot paths: every checkout is an
    event the relay publishes, and for the first minute or two under load their JIT compilers use
    ~0.25 of the two cores (docs/benchmarks.md, "Checkout API, fourth pass"). A 5 s warm-up left that
    in the first slice, whose p99 (300-970 ms) then stood for the whole run."""
    from django.db import connection

    token, skus = bench_customer()
    base_url = f"http://{stack.cfg.web_host}:{stack.cfg.web_port}"
    statements, unique = capture_checkout(token, skus[0])
    connection.close()
    say(f"api: one checkout is {len(statements)} SQL statements, {round_trips(statements)} round trips")
    say(f"api: warm-up ({warm_up_seconds:.0f} s at {PROFILE_CONNECTIONS} connections)")
    run_wrk(base_url, token, skus, PROFILE_CONNECTIONS, warm_up_seconds)
    http_runs, raw_runs, pairs = [], [], []
    for c in connections:
        http, raw = interleaved(stack, base_url, token, skus, stack.cfg.db_dsn, statements, unique, c, seconds,
                                rounds)
        http_runs.append(http)
        raw_runs.append(raw)
        say(f"api: {c} connections: {http['orders_per_second']} orders/s, p50 {http['p50_ms']:.1f} ms, "
            f"p99 {http['p99_ms']:.1f} ms (worst of {rounds} slices), non-2xx {http['non_2xx']}")
        say(f"api: raw SQL, {raw['connections']} connections: {raw['transactions_per_second']} "
            f"tx/s, p50 {raw['p50_ms']} ms, p99 {raw['p99_ms']} ms")
        ratio = round(http["orders_per_second"] / raw["transactions_per_second"], 3)
        pairs.append({"connections": c, "api_orders_per_second": http["orders_per_second"],
                      "raw_sql_tx_per_second": raw["transactions_per_second"], "api_to_sql_ratio": ratio,
                      "api_p99_ms": http["p99_ms"], "slice_ratios": [
                          round(h["orders_per_second"] / r["transactions_per_second"], 3)
                          for h, r in zip(http["slices"], raw["slices"])]})
        say(f"api: API/SQL at {c} connections: {ratio} (per slice: {pairs[-1]['slice_ratios']})")
        say(f"api: CPU ms per order: {http['cpu_ms_per_order']}; per raw SQL transaction: {raw['cpu_ms_per_tx']}")
        pairs[-1]["cpu_ms_per_order"], pairs[-1]["cpu_ms_per_raw_tx"] = http["cpu_ms_per_order"], raw["cpu_ms_per_tx"]
    say(f"api: profiling layers at {PROFILE_CONNECTIONS} connections ({min(seconds, 10):.0f} s)")
    profile = profile_layers(stack, token, skus, min(seconds, 10))
    for name, v in profile["layers_ms"].items():
        say(f"api: layer {name:<16} p50 {v['p50']:7.2f} ms   p99 {v['p99']:7.2f} ms")
    best = max(http_runs, key=lambda r: r["orders_per_second"])
    at4 = next((p for p in pairs if p["connections"] == PROFILE_CONNECTIONS), pairs[0])
    return {
        "http": http_runs, "best": best, "raw_sql": max(raw_runs, key=lambda r: r["transactions_per_second"]),
        "raw_sql_runs": raw_runs, "same_concurrency": pairs, "at_4_connections": at4,
        "statements_per_checkout": len(statements), "round_trips_per_checkout": round_trips(statements),
        "statements": [s.sql for s in statements], "layer_profile": profile,
        "api_to_sql_ratio": at4["api_to_sql_ratio"],
        "target": {"orders_per_second": TARGET_RATE, "p99_ms": TARGET_P99_MS, "api_to_sql_ratio": TARGET_RATIO},
        "ratio_met": at4["api_to_sql_ratio"] >= TARGET_RATIO,
        "p99_at_4_met": at4["api_p99_ms"] < TARGET_P99_MS,
        "target_met": any(r["orders_per_second"] >= TARGET_RATE and r["p99_ms"] < TARGET_P99_MS
                          and r["non_2xx"] == 0 for r in http_runs),
    }
