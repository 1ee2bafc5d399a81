"""Checkout API benchmark: HTTP throughput and latency next to the raw SQL rate of the same transaction.

The HTTP side is wrk (C, Debian package) against the real gunicorn web process, closed loop with N
concurrent connections, every request a new order with its own Idempotency-Key. The SQL side replays
the exact statements one API checkout issued (captured through Django's execute wrapper), with fresh
ids each time, from N processes holding one psycopg connection each and no Python framework in
between. The ratio API/SQL says how much of the database's capacity the web tier delivers.
"""
from __future__ import annotations

import json
import multiprocessing
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .stackup import percentile, say

TARGET_RATE = 1000.0
TARGET_P99_MS = 50.0
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
    in_transaction: bool


def capture_checkout(token: str, sku: str) -> tuple[list[Statement], set[str]]:
    """Run one API checkout in-process and record every statement it sends, with the values that are
    unique per order (ids, order number, idempotency key) that a replay must renew."""
    from django.db import connection
    from django.test import Client

    from orders_site.orders.models import Order

    statements: list[Statement] = []

    def record(execute, sql, params, many, context):  # noqa: ANN001 - Django's wrapper protocol
        statements.append(Statement(sql, params, connection.in_atomic_block))
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
                queue: multiprocessing.Queue) -> None:
    import psycopg

    latencies: list[float] = []
    with psycopg.connect(dsn, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
        cur = conn.cursor()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            fresh = _fresh_values(unique)
            started = time.perf_counter()
            in_tx = False
            for st in statements:
                if st.in_transaction and not in_tx:
                    cur.execute("BEGIN")
                    in_tx = True
                elif not st.in_transaction and in_tx:
                    cur.execute("COMMIT")
                    in_tx = False
                cur.execute(st.sql, _renew(st.params, fresh))
            if in_tx:
                cur.execute("COMMIT")
            latencies.append(time.perf_counter() - started)
    queue.put(latencies)


def run_raw_sql(dsn: str, statements: list[Statement], unique: set[str], workers: int,
                seconds: float) -> dict[str, Any]:
    ctx = multiprocessing.get_context("fork")  # params may hold Django adapters; Django connections are closed first
    queue: multiprocessing.Queue = ctx.Queue()
    procs = [ctx.Process(target=_sql_worker, args=(dsn, statements, unique, seconds, queue)) for _ in range(workers)]
    for p in procs:
        p.start()
    latencies = sorted(x for _ in procs for x in queue.get(timeout=seconds + 120))
    for p in procs:
        p.join(30)
    return {"connections": workers, "seconds": seconds, "transactions": len(latencies),
            "transactions_per_second": round(len(latencies) / seconds, 1),
            "p50_ms": round(percentile(latencies, 50) * 1000, 2), "p99_ms": round(percentile(latencies, 99) * 1000, 2)}


def measure(stack, *, connections: list[int], seconds: float) -> dict[str, Any]:
    """HTTP runs at each concurrency, then the raw SQL replay at each; the ratio compares the bests."""
    from django.db import connection

    token, skus = bench_customer()
    base_url = f"http://{stack.cfg.web_host}:{stack.cfg.web_port}"
    say("api: warm-up (5 s)")
    run_wrk(base_url, token, skus, 8, 5)
    http_runs = []
    for c in connections:
        http_runs.append(run_wrk(base_url, token, skus, c, seconds))
        say(f"api: {c} connections: {http_runs[-1]['orders_per_second']} orders/s, "
            f"p50 {http_runs[-1]['p50_ms']:.1f} ms, p99 {http_runs[-1]['p99_ms']:.1f} ms, "
            f"non-2xx {http_runs[-1]['non_2xx']}")
    best = max(http_runs, key=lambda r: r["orders_per_second"])
    statements, unique = capture_checkout(token, skus[0])
    connection.close()
    say(f"api: one checkout is {len(statements)} SQL statements; replaying them raw")
    raw_runs = []
    # One process per connection: past 16 the 2 cores only switch between them.
    for c in sorted({min(c, RAW_SQL_MAX_CONNECTIONS) for c in connections}):
        raw_runs.append(run_raw_sql(stack.cfg.db_dsn, statements, unique, c, seconds))
        say(f"api: raw SQL, {c} connections: {raw_runs[-1]['transactions_per_second']} tx/s, "
            f"p50 {raw_runs[-1]['p50_ms']} ms, p99 {raw_runs[-1]['p99_ms']} ms")
    raw = max(raw_runs, key=lambda r: r["transactions_per_second"])
    return {
        "http": http_runs, "best": best, "raw_sql": raw, "raw_sql_runs": raw_runs,
        "statements_per_checkout": len(statements),
        "statements": [s.sql for s in statements],
        "api_to_sql_ratio": round(best["orders_per_second"] / raw["transactions_per_second"], 3),
        "target": {"orders_per_second": TARGET_RATE, "p99_ms": TARGET_P99_MS},
        "target_met": any(r["orders_per_second"] >= TARGET_RATE and r["p99_ms"] < TARGET_P99_MS
                          and r["non_2xx"] == 0 for r in http_runs),
    }
