"""`make run`: prepare once, start every process under the supervisor, say "ready" once it is.

Preparation runs here, in order, before any process starts, so a first start on an empty data
directory is deterministic: ports are checked, the jars resolved, the PostgreSQL cluster
initialised and Kafka's log directory formatted. Then supervisord starts the processes of
stack/components.py, and this command waits until the API answers, the connector runs and every
consumer has joined its group, and prints one block with the addresses, the demo credentials and
the API token. Ctrl-C stops everything and exits 0.
"""
from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from consumers.registry import SERVICE_NAMES as SERVICES

from . import broker, connector, jvm, postgres, supervision
from .config import REPO_ROOT, StackConfig
from .errors import StackError
from .procs import die_with_parent, log, port_open

STOP_TIMEOUT = 300  # supervisord stops the programs one after another, each within 30 s
READY_TIMEOUT = 300  # seconds before the wait says what is still missing (it keeps waiting)
PROGRESS_EVERY = 10  # seconds between "waiting for ..." lines


def ports(cfg: StackConfig) -> dict[str, tuple[str, int, str]]:
    """What listens where, and the variable that moves it."""
    kafka_host, kafka_port = broker.host_port(cfg.kafka_bootstrap)
    return {
        "PostgreSQL": (cfg.db_host, cfg.db_port, "ORDERS_DB_PORT"),
        "Kafka": (kafka_host, kafka_port, "KAFKA_BOOTSTRAP_SERVERS"),
        "Kafka's controller": (kafka_host, cfg.kafka_controller_port, "KAFKA_CONTROLLER_PORT"),
        "Kafka Connect": (cfg.connect_host, cfg.connect_port, "CONNECT_PORT"),
        "the web app": (cfg.web_host, cfg.web_port, "WEB_PORT"),
        "the payment gateway simulator": (cfg.gateway_host, cfg.gateway_port, "GATEWAY_PORT"),
        **({f"consumer-{s}'s metrics": ("127.0.0.1", cfg.consumer_port(s), "CONSUMER_METRICS_PORT")
            for s in SERVICES} if cfg.consumer_metrics_port else {}),
    }


def prepare(cfg: StackConfig) -> None:
    """Everything that must happen once, before the processes start; StackError names the fix."""
    if supervision.running(cfg):
        raise StackError(f"a pipeline is already running for {cfg.data_dir}; see `make status`")
    for what, (host, port, variable) in ports(cfg).items():
        if port_open(host, port):
            raise StackError(f"port {port} ({what}) is already in use on {host}: stop what holds it, "
                             f"or move {what} with {variable}=...")
    jvm.check_java()
    jvm.resolve(cfg)
    postgres.bin_dir()
    if postgres.init_cluster(postgres.cluster_dir(cfg)):
        log("run", f"a new PostgreSQL cluster in {postgres.cluster_dir(cfg)}")
    broker.format_storage(cfg)


def start_supervisor(cfg: StackConfig) -> subprocess.Popen:
    conf = supervision.write_config(cfg)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # Its own session: a Ctrl-C in the terminal reaches this command only, which then stops the
    # supervisor, which stops the processes in order (a terminal SIGINT to all of them at once would
    # race the supervisor's restarts).
    return subprocess.Popen([sys.executable, "-m", "supervisor.supervisord", "-c", str(conf)], env=env, cwd=REPO_ROOT,
                            start_new_session=True,
                            # if this command is SIGKILLed, supervisord gets SIGTERM and stops every process
                            preexec_fn=lambda: die_with_parent(signal.SIGTERM))


# -- readiness -----------------------------------------------------------------------------------
def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except (OSError, http.client.HTTPException):  # refused, reset, or a worker restarting mid-answer
        return False


class GroupProbe:
    """Whether each consumer service's group is stable with at least one member.

    One admin client for the probe's life: librdkafka aborts the process when a client is destroyed
    with a request still in flight, and futures of a client that is gone never complete."""

    def __init__(self, cfg: StackConfig) -> None:
        from confluent_kafka.admin import AdminClient

        from consumers.registry import SERVICE_NAMES
        from consumers.config import group_name

        self.groups = {group_name(s): s for s in SERVICE_NAMES}
        self.admin = AdminClient({"bootstrap.servers": cfg.kafka_bootstrap, "log_level": 0})

    def joined(self) -> dict[str, bool]:
        from confluent_kafka import ConsumerGroupState

        joined = dict.fromkeys(self.groups.values(), False)
        futures = self.admin.describe_consumer_groups(list(self.groups), request_timeout=5)
        for group, future in futures.items():
            try:
                description = future.result()  # bounded by request_timeout
            except Exception:  # noqa: BLE001 - the broker or its group coordinator is not up yet
                continue
            joined[self.groups[group]] = description.state == ConsumerGroupState.STABLE and bool(description.members)
        return joined


def readiness_checks(cfg: StackConfig) -> dict[str, Callable[[], bool]]:
    """What "ready" means, in the order it usually comes true; each check is cheap and bounded."""
    groups = GroupProbe(cfg)
    return {
        "PostgreSQL": lambda: postgres.accepts_connections(cfg, cfg.db_name),
        "Kafka": lambda: broker.reachable(cfg),
        "the API": lambda: _http_ok(f"http://{cfg.web_host}:{cfg.web_port}/admin/login/"),
        "the connector": lambda: connector.is_running(cfg.connect_url, connector.load_definition()["name"]),
        "the payment gateway": lambda: port_open(cfg.gateway_host, cfg.gateway_port),
        "the consumers": lambda: all(groups.joined().values()),
    }


def pending(checks: dict[str, Callable[[], bool]]) -> list[str]:
    """The checks not passed yet; a check is only tried once all before it passed (the consumers'
    groups are not asked for before Kafka answers)."""
    missing = []
    for name, ready in checks.items():
        if missing or not ready():
            missing.append(name)
    return missing


def api_token(cfg: StackConfig) -> str:
    from orders_site.catalog.demo import DEMO_USER

    try:
        with psycopg.connect(cfg.db_dsn, connect_timeout=2) as conn:
            row = conn.execute("SELECT t.key FROM authtoken_token t JOIN auth_user u ON u.id = t.user_id "
                               "WHERE u.username = %s", (DEMO_USER,)).fetchone()
    except psycopg.Error as err:
        return f"(unavailable: {err})"
    return row[0] if row else "(no demo user: ORDERS_DEMO_DATA=0)"


def ready_block(cfg: StackConfig, seconds: float) -> str:
    from orders_site.catalog.demo import DEMO_PASSWORD, DEMO_USER

    web = f"http://{cfg.web_host}:{cfg.web_port}"
    rows = [
        ("API", f"{web}/api/   (docs {web}/api/docs/)"),
        ("Admin", f"{web}/admin/   user {DEMO_USER}   password {DEMO_PASSWORD}"),
        ("API token", f"Authorization: Token {api_token(cfg)}"),
        ("Gateway", f"http://{cfg.gateway_host}:{cfg.gateway_port}/v1/ledger   (payment simulator)"),
        ("Metrics", f"{web}/metrics   {web}/readyz   consumers: 127.0.0.1:"
                    f"{cfg.consumer_port(SERVICES[0])}-{cfg.consumer_port(SERVICES[-1])}/metrics"),
        ("Kafka", f"{cfg.kafka_bootstrap}   Kafka Connect {cfg.connect_url}"),
        ("PostgreSQL", f"{cfg.db_host}:{cfg.db_port}   database {cfg.db_name}   user {cfg.db_user}"),
        ("Logs", f"{cfg.log_dir}/   status: make status   stop: Ctrl-C"),
    ]
    title = f" ready in {seconds:.1f} s "
    return "\n".join([f"{title:=^78}", *(f"  {k:<11}{v}" for k, v in rows), "=" * 78])


# -- the terminal -------------------------------------------------------------------------------
@contextmanager
def terminal_foreground() -> Iterator[None]:
    """Make this process group the terminal's foreground group while the stack runs.

    A Ctrl-C then reaches this command alone, not `make`, which would otherwise report
    "*** Error 130" / "Interrupt" however cleanly the pipeline stopped."""
    fd = sys.stdin.fileno() if sys.stdin and sys.stdin.isatty() else None
    if fd is None:
        yield
        return
    original = os.tcgetpgrp(fd)
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # allowed to take the terminal
    try:
        if os.getpgrp() != os.getpid():
            os.setpgid(0, 0)
        os.tcsetpgrp(fd, os.getpgrp())
        yield
    finally:
        try:
            os.tcsetpgrp(fd, original)
        except OSError:
            pass
        signal.signal(signal.SIGTTOU, previous)


def main(cfg: StackConfig) -> int:
    started = time.monotonic()
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    log("run", f"data directory {cfg.data_dir}")
    prepare(cfg)
    stop_requested = False

    def request_stop(_signum, _frame) -> None:
        nonlocal stop_requested
        stop_requested = True

    with terminal_foreground():
        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        follower = supervision.LogFollower(cfg)
        supervisor = start_supervisor(cfg)
        supervised: set[int] = set()  # every process tree the supervisor ran, for the final sweep
        try:
            code = _watch(cfg, supervisor, started, lambda: stop_requested, follower, supervised)
        finally:
            if supervisor.poll() is None:
                log("run", "stopping every process")
                supervisor.terminate()
                try:
                    supervisor.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    supervisor.kill()
                    supervisor.wait()
            # A supervisor that died or was killed leaves its programs running (each has a process
            # group of its own), holding ports the next start needs.
            _kill_leftovers(supervised)
    log("run", "stopped")
    return code


def _kill_leftovers(pids: set[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _record_trees(cfg: StackConfig, into: set[int]) -> None:
    from .harness import process_tree

    try:
        for state in supervision.states(cfg):
            if state.pid:
                into.update(process_tree(state.pid))
    except (OSError, Exception):  # noqa: BLE001 - the supervisor is starting or stopping
        pass


def _watch(cfg: StackConfig, supervisor: subprocess.Popen, started: float, stop: Callable[[], bool],
           follower: supervision.LogFollower, supervised: set[int]) -> int:
    checks = readiness_checks(cfg)
    announced = False
    last_progress = time.monotonic()
    last_recorded = 0.0
    while not stop():
        if time.monotonic() - last_recorded > 5:
            last_recorded = time.monotonic()
            _record_trees(cfg, supervised)
        for line in follower.new_lines():
            # Before "ready", only trouble is worth a line: every process is spawned once anyway.
            if announced or not line.startswith("spawned: "):
                log("supervisor", line)
        if supervisor.poll() is not None:
            log("run", f"the supervisor exited (code {supervisor.returncode}); see {supervision.supervisord_log(cfg)}")
            return 1
        if not announced:
            missing = pending(checks)
            elapsed = time.monotonic() - started
            if not missing:
                print(ready_block(cfg, elapsed), flush=True)
                announced = True
            elif time.monotonic() - last_progress >= PROGRESS_EVERY:
                last_progress = time.monotonic()
                hint = f"; logs in {cfg.log_dir}" if elapsed > READY_TIMEOUT else ""
                log("run", f"waiting for {', '.join(missing)} ({elapsed:.0f} s){hint}")
        time.sleep(0.5)
    return 0
