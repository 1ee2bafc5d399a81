"""The relay: a Kafka Connect worker (distributed mode) running Debezium's Postgres connector.

This launcher checks the preconditions and fails fast with a clear message, starts the worker on the
classpath of jvm/pom.xml, registers connect/outbox-connector.json over REST, and then keeps watch:

* the worker process died (e.g. SIGKILL) -> the launcher learns it at once (it waits on the child)
  and exits with an error, so the supervisor (`make run`) starts a new launcher and worker, which
  resume from the offsets stored in Kafka and re-send what came after the last flush
  (at-least-once; consumers dedupe);
* the connector's task FAILED -> print the task's error, stop the worker and exit with an error
  (the same restart, which restarts the task from its stored offsets).

Kafka keeps Connect's config, offset and status topics across broker restarts, so a broker that
comes back needs nothing from this launcher: the worker reconnects by itself.
"""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import psycopg

from . import broker, connector, jvm, postgres
from .config import REPO_ROOT, StackConfig
from .errors import StackError
from .procs import log, spawn, wait_until

REQUIRED_TABLES = ("event_store", "relay_heartbeat", "debezium_signal")
WORKER_TEMPLATE = REPO_ROOT / "connect" / "worker.properties"
HEAP = "512m"
STATUS_EVERY = 2.0  # seconds between checks of the connector's task


def read_worker_properties(path: Path = WORKER_TEMPLATE) -> dict[str, str]:
    """The shared worker settings as key -> value (docker-compose's check reads them the same way)."""
    props = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")):
            key, _, value = line.partition("=")
            props[key.strip()] = value.strip()
    return props


def check_migrated(cfg: StackConfig) -> bool:
    """The migrations the relay needs have run: its tables exist, and so does its publication (made by
    a later migration than the tables, eventstore 0003; the connector does not create it, and
    Debezium fails its task when it is missing)."""
    try:
        with psycopg.connect(cfg.db_dsn, connect_timeout=5) as conn:
            found = {r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename = ANY(%s)",
                (list(REQUIRED_TABLES),))}
            published = conn.execute("SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = %s)",
                                     (connector.load_definition()["config"]["publication.name"],)).fetchone()[0]
    except psycopg.OperationalError:
        return False
    return found == set(REQUIRED_TABLES) and published


def worker_properties(cfg: StackConfig) -> Path:
    """The shared worker settings plus this machine's addresses and single-broker replication."""
    local = {
        "bootstrap.servers": cfg.kafka_bootstrap,
        "group.id": "orders-relay",
        "listeners": f"http://{cfg.connect_host}:{cfg.connect_port}",
        "rest.advertised.host.name": cfg.connect_host,
        "rest.advertised.port": str(cfg.connect_port),
        "config.storage.replication.factor": "1",
        "offset.storage.replication.factor": "1",
        "status.storage.replication.factor": "1",
        "offset.storage.partitions": "1",
        "status.storage.partitions": "1",
        # The connector is on the classpath, and its jars declare their plugins for Java's
        # ServiceLoader: no need to scan every class of every jar at each start.
        "plugin.discovery": "service_load",
        # Rejoin quickly after a restart of the worker.
        "session.timeout.ms": "6000",
        "heartbeat.interval.ms": "2000",
        "scheduled.rebalance.max.delay.ms": "0",
    }
    cfg.connect_dir.mkdir(parents=True, exist_ok=True)
    path = cfg.connect_dir / "worker.properties"
    text = WORKER_TEMPLATE.read_text() + "\n# local (stack/relay.py)\n"
    path.write_text(text + "".join(f"{k}={v}\n" for k, v in local.items()))
    return path


def worker_env(cfg: StackConfig) -> dict[str, str]:
    """What the connector's ${env:...} references resolve to on this machine."""
    env = dict(os.environ)
    env.update({
        "ORDERS_DB_HOST": cfg.db_host, "ORDERS_DB_PORT": str(cfg.db_port), "ORDERS_DB_NAME": cfg.db_name,
        "ORDERS_DB_USER": cfg.db_user, "ORDERS_DB_PASSWORD": cfg.db_password,
        "ORDERS_TOPIC_REPLICATION_FACTOR": os.environ.get("ORDERS_TOPIC_REPLICATION_FACTOR", "1"),
        "ORDERS_TOPIC_PARTITIONS": os.environ.get("ORDERS_TOPIC_PARTITIONS", "4"),
    })
    return env


class Relay:
    """Owns one Kafka Connect worker process and the connector registered on it."""

    def __init__(self, cfg: StackConfig) -> None:
        self.cfg = cfg
        self.name = connector.load_definition()["name"]
        self.worker: subprocess.Popen | None = None
        self._stopping = False
        self._watching = False  # before the watch loop, a stop request ends the start-up at once

    def preflight(self, wait_tables: float = 120) -> None:
        jvm.check_java()
        try:
            broker.wait_ready(self.cfg, timeout=60)
        except StackError:
            raise StackError(f"the Kafka broker at {self.cfg.kafka_bootstrap} is unreachable; "
                             "start it (`python -m stack broker`) or set KAFKA_BOOTSTRAP_SERVERS") from None
        postgres.wait_ready(self.cfg, timeout=120, database=self.cfg.db_name)
        postgres.check_logical_wal(self.cfg)
        wait_until(lambda: check_migrated(self.cfg), timeout=wait_tables,
                   what=f"tables {', '.join(REQUIRED_TABLES)} and the publication (run `python manage.py migrate`)",
                   interval=1)

    def start_worker(self) -> None:
        log4j = jvm.log4j_config(self.cfg.connect_dir / "log4j2.properties", log_file=self.cfg.log_dir / "connect.log",
                                 component="relay",
                                 quiet={"io.debezium.connector.postgresql.TypeRegistry": "error",
                                        "org.apache.kafka.clients.NetworkClient": "error"})
        argv = jvm.java_argv(self.cfg, heap=os.environ.get("CONNECT_HEAP", HEAP), log4j=log4j,
                             main="org.apache.kafka.connect.cli.ConnectDistributed",
                             args=[str(worker_properties(self.cfg))])
        self.worker = spawn(argv, env=worker_env(self.cfg))
        log("relay", f"Kafka Connect worker started (pid {self.worker.pid}); log: {self.cfg.log_dir / 'connect.log'}")

        def rest_up() -> bool:
            if not self._worker_alive():  # a dead worker is reported now, not after the timeout
                raise StackError(f"the Kafka Connect worker exited (code {self.worker.returncode}); "
                                 f"see {self.cfg.log_dir / 'connect.log'}")
            return connector.rest_up(self.cfg.connect_url)

        wait_until(rest_up, timeout=120, what=f"the Kafka Connect REST API at {self.cfg.connect_url}",
                   interval=0.25)
        connector.register(self.cfg.connect_url, alive=self._worker_alive)
        connector.wait_running(self.cfg.connect_url, self.name, timeout=120, alive=self._worker_alive)
        log("relay", f"connector {self.name} RUNNING; REST API {self.cfg.connect_url}")

    def _worker_alive(self) -> bool:
        return self.worker is not None and self.worker.poll() is None

    def stop_worker(self, timeout: float = 20) -> None:
        if not self._worker_alive():
            return
        self.worker.terminate()
        try:
            self.worker.wait(timeout)
        except subprocess.TimeoutExpired:
            self.worker.kill()
            self.worker.wait()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.preflight()
        self.start_worker()
        self._watching = True
        while not self._stopping:
            try:
                code = self.worker.wait(STATUS_EVERY)
            except subprocess.TimeoutExpired:
                status = connector.fetch_status(self.cfg.connect_url, self.name)
                failure = status and connector.task_failure(status)
                if failure:
                    raise StackError(f"connector {self.name} FAILED:\n{failure}")
                continue
            if self._stopping:
                break
            log("relay", f"the Kafka Connect worker exited (code {code}); exiting so the supervisor restarts the relay")
            return 1
        self.stop_worker()
        return 0

    def _on_signal(self, _signum, _frame) -> None:
        self._stopping = True
        if not self._watching:
            raise SystemExit(0)  # out of whichever wait start-up is in; serve() stops the worker
        if self._worker_alive():
            self.worker.terminate()  # wakes run() from its wait


def serve(cfg: StackConfig) -> int:
    relay = Relay(cfg)
    try:
        return relay.run()
    finally:
        relay.stop_worker()
