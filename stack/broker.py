"""The embedded broker: Apache Kafka in KRaft mode, one node that is both broker and controller.

Its log directory lives in the data directory and is formatted once, on first start; topics,
committed offsets and Kafka Connect's internal topics survive restarts and SIGKILL (Kafka recovers
unflushed segments on start). The jars come from jvm/pom.xml (stack/jvm.py).
"""
from __future__ import annotations

import base64
import os
import shutil
import subprocess
import uuid
from functools import cache
from pathlib import Path

from confluent_kafka.admin import AdminClient

from . import jvm
from .config import StackConfig
from .errors import StackError
from .procs import log, port_open, wait_until

HEAP = "384m"  # a 2-core, 24 GiB machine runs two JVMs; the pipeline's topics are small

# Settings for one node. Replication factors of 1 for Kafka's own topics (offsets, transactions,
# share groups), which default to 3; no 3 s wait before the first rebalance of a new group.
NODE_SETTINGS = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.listener.names": "CONTROLLER",
    "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    "inter.broker.listener.name": "PLAINTEXT",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "8",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "num.partitions": "4",
    # Few threads: two cores serve every process of the stack.
    "num.network.threads": "2",
    "num.io.threads": "2",
    "num.recovery.threads.per.data.dir": "1",
    "background.threads": "2",
}


def host_port(bootstrap: str) -> tuple[str, int]:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    return host, int(port)


def log_dir(cfg: StackConfig) -> Path:
    return cfg.kafka_dir / "logs"


def server_properties(cfg: StackConfig) -> Path:
    """Write the node's server.properties for this machine's addresses; returns its path."""
    host, port = host_port(cfg.kafka_bootstrap)
    controller = f"{host}:{cfg.kafka_controller_port}"
    settings = dict(NODE_SETTINGS, **{
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{controller}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.quorum.voters": f"1@{controller}",
        "log.dirs": str(log_dir(cfg)),
    })
    cfg.kafka_dir.mkdir(parents=True, exist_ok=True)
    path = cfg.kafka_dir / "server.properties"
    path.write_text("# written by stack/broker.py at each start\n"
                    + "".join(f"{k}={v}\n" for k, v in settings.items()))
    return path


def formatted(cfg: StackConfig) -> bool:
    return (log_dir(cfg) / "meta.properties").exists()


def new_cluster_id() -> str:
    """A Kafka cluster id (base64url of a UUID). One in 64 starts with "-", which the storage tool's
    argument parser takes for an option (seen: a test stack's broker failed to format); Kafka's own
    generator draws again in that case, and so do we."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def format_storage(cfg: StackConfig) -> bool:
    """Format the log directory unless it is; True when it was formatted now.

    A directory without meta.properties holds nothing (format writes that file last), so a run
    interrupted half-way is wiped and formatted again rather than left to break the next start."""
    if formatted(cfg):
        return False
    shutil.rmtree(log_dir(cfg), ignore_errors=True)
    props = server_properties(cfg)
    cluster_id = new_cluster_id()
    log4j = jvm.log4j_config(cfg.kafka_dir / "log4j2-format.properties", log_file=cfg.log_dir / "kafka-format.log",
                             component="broker")
    argv = jvm.java_argv(cfg, heap="128m", log4j=log4j, main="kafka.tools.StorageTool",
                         args=["format", f"--cluster-id={cluster_id}", "-c", str(props)])
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0 or not formatted(cfg):
        shutil.rmtree(log_dir(cfg), ignore_errors=True)
        raise StackError(f"formatting Kafka's log directory {log_dir(cfg)} failed:\n"
                         f"{(result.stdout + result.stderr).strip()}")
    log("broker", f"formatted a new Kafka log directory {log_dir(cfg)} (cluster {cluster_id})")
    return True


def argv(cfg: StackConfig) -> list[str]:
    """The broker's command line; formats the log directory first when it is new."""
    format_storage(cfg)
    log4j = jvm.log4j_config(cfg.kafka_dir / "log4j2.properties", log_file=cfg.log_dir / "kafka.log",
                             component="broker", quiet={"kafka.request.logger": "warn"})
    heap = os.environ.get("KAFKA_HEAP", HEAP)
    return jvm.java_argv(cfg, heap=heap, log4j=log4j, main="kafka.Kafka", args=[str(server_properties(cfg))])


@cache
def _probe_client(bootstrap: str) -> AdminClient:
    # One client per address for the process's life: librdkafka may abort a process that destroys
    # a client with a request in flight (a timed-out probe leaves one). log_level 0: a probe of a
    # broker still starting is expected to fail, quietly.
    return AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})


def reachable(cfg: StackConfig) -> bool:
    """True when the broker answers a metadata request (an open port alone is not enough)."""
    if not port_open(*host_port(cfg.kafka_bootstrap)):
        return False
    try:
        _probe_client(cfg.kafka_bootstrap).list_topics(timeout=2)
        return True
    except Exception:  # confluent-kafka raises KafkaException on timeout
        return False


def wait_ready(cfg: StackConfig, timeout: float = 60) -> None:
    wait_until(lambda: reachable(cfg), timeout=timeout, what=f"the Kafka broker at {cfg.kafka_bootstrap}")


def serve(cfg: StackConfig) -> int:
    """Become the broker (exec): a supervisor's or harness's signal reaches the JVM itself."""
    command = argv(cfg)
    log("broker", f"Apache Kafka {jvm.pinned_versions()['kafka.version']} on {cfg.kafka_bootstrap}, "
        f"log directory {log_dir(cfg)}")
    os.execv(command[0], command)
    return 0  # unreachable

