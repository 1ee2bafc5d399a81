"""docker-compose.yml checked statically (no Docker engine here): the production topology runs the
same connector and worker settings, and the same Kafka / Debezium versions, as the embedded stack."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from stack.components import CONSUMER_PROCESSES
from stack.connector import CONNECTOR_FILE
from stack.jvm import pinned_versions
from stack.relay import read_worker_properties

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("postgres", "kafka", "connect", "connect-init", "migrate", "web", *CONSUMER_PROCESSES)


def load_compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


# The debezium/connect image sets these three from dedicated variables.
STORAGE_TOPIC_VARS = {"config.storage.topic": "CONFIG_STORAGE_TOPIC", "offset.storage.topic": "OFFSET_STORAGE_TOPIC",
                      "status.storage.topic": "STATUS_STORAGE_TOPIC"}


def worker_drift(compose: dict[str, Any]) -> list[str]:
    """Differences between connect/worker.properties and the compose `connect` service's worker env."""
    env = compose["services"]["connect"]["environment"]
    problems = []
    for key, value in read_worker_properties().items():
        var = STORAGE_TOPIC_VARS.get(key) or "CONNECT_" + key.upper().replace(".", "_")
        if str(env.get(var)) != value:
            problems.append(f"{key}={value} but compose sets {var}={env.get(var)!r}")
    return problems


def test_compose_parses_and_has_every_service_the_readme_names() -> None:
    services = load_compose()["services"]
    readme = (ROOT / "README.md").read_text()
    for name in SERVICES:
        assert name in services, f"service {name} missing"
        assert f"`{name}`" in readme, f"README does not name service {name}"


def test_the_connector_is_registered_from_connect_dir_by_the_relays_own_code() -> None:
    init = load_compose()["services"]["connect-init"]
    assert init["command"][:4] == ["python", "-m", "stack", "register-connector"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^COPY connect ", dockerfile, re.M), "the app image must contain connect/"
    assert re.search(r"^COPY stack ", dockerfile, re.M)


def test_every_env_reference_of_the_connector_is_provided_to_kafka_connect() -> None:
    referenced = set(re.findall(r"\$\{env:([A-Z0-9_]+)\}", CONNECTOR_FILE.read_text()))
    assert referenced, "the connector file should take addresses and secrets from ${env:...}"
    provided = set(load_compose()["services"]["connect"]["environment"])
    assert referenced <= provided, f"not provided to connect: {sorted(referenced - provided)}"


def test_connector_file_holds_no_literal_secret_or_address() -> None:
    config = json.loads(CONNECTOR_FILE.read_text())["config"]
    for key in ("database.hostname", "database.port", "database.user", "database.password", "database.dbname"):
        assert config[key].startswith("${env:"), key


def test_worker_settings_match_the_local_relay() -> None:
    assert worker_drift(load_compose()) == []


def test_the_drift_check_notices_a_changed_worker_setting() -> None:
    compose = load_compose()
    compose["services"]["connect"]["environment"]["CONNECT_OFFSET_FLUSH_INTERVAL_MS"] = "60000"
    assert any("offset.flush.interval.ms" in p for p in worker_drift(compose))


def test_versions_match_the_jvm_manifest() -> None:
    """One manifest (jvm/pom.xml) pins Kafka and Debezium; compose runs exactly those."""
    services = load_compose()["services"]
    versions = pinned_versions()
    assert services["kafka"]["image"] == f"apache/kafka:{versions['kafka.version']}"
    assert services["connect"]["image"] == f"quay.io/debezium/connect:{versions['debezium.version']}"


def test_postgres_has_logical_wal_and_no_password_is_committed() -> None:
    compose = load_compose()
    assert "wal_level=logical" in compose["services"]["postgres"]["command"]
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key or "SECRET" in key:
                assert str(value).startswith("${") and ":?" in str(value), f"{name}.{key} must come from the environment"


@pytest.mark.parametrize("name", ["web", "consumer-order", "connect-init", "migrate"])
def test_app_services_run_with_production_settings(name: str) -> None:
    assert load_compose()["services"][name]["environment"]["ORDERS_ENV"] == "production"


def test_the_kafka_service_has_the_embedded_brokers_node_settings() -> None:
    env = load_compose()["services"]["kafka"]["environment"]
    from stack.broker import NODE_SETTINGS

    shared = ["process.roles", "controller.listener.names", "offsets.topic.replication.factor",
              "transaction.state.log.replication.factor", "transaction.state.log.min.isr",
              "share.coordinator.state.topic.replication.factor", "share.coordinator.state.topic.min.isr",
              "group.initial.rebalance.delay.ms", "num.partitions"]
    drift = {key: (NODE_SETTINGS[key], env.get("KAFKA_" + key.upper().replace(".", "_")))
             for key in shared if str(env.get("KAFKA_" + key.upper().replace(".", "_"))) != NODE_SETTINGS[key]}
    assert drift == {}


def test_every_consumer_service_runs_its_own_consumer() -> None:
    services = load_compose()["services"]
    for name in CONSUMER_PROCESSES:
        assert services[name]["command"] == ["python", "-m", "consumers", name.removeprefix("consumer-")]


def test_web_serves_like_the_embedded_stack_in_prometheus_multiprocess_mode() -> None:
    from stack import web as embedded

    service = load_compose()["services"]["web"]
    assert service["command"] == ["python", "-m", "stack", "web-server", "--host", "0.0.0.0", "--port", "8000"]
    assert service["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    assert service["environment"]["ORDERS_ENV"] == "production"  # the merge kept the shared settings
    # One function builds the server's arguments for both: the embedded `web` ends in the same call.
    assert "exec_server(cfg.web_host, cfg.web_port)" in (ROOT / "stack" / "web.py").read_text()
    assert embedded.granian_args("0.0.0.0", 8000)[:2] == ["--interface", "wsgi"]


def test_the_inbox_outlives_what_the_broker_keeps() -> None:
    from orders_site.replay.retention import check_horizon

    services = load_compose()["services"]
    app = services["consumer-order"]["environment"]
    assert app["ORDERS_TOPIC_RETENTION_HOURS"] == services["kafka"]["environment"]["KAFKA_LOG_RETENTION_HOURS"]
    check_horizon(int(app["ORDERS_INBOX_RETENTION_DAYS"]), int(app["ORDERS_TOPIC_RETENTION_HOURS"]))


def test_the_connector_signal_table_is_captured_and_dropped_from_topics() -> None:
    config = json.loads(CONNECTOR_FILE.read_text())["config"]
    signal = config["signal.data.collection"]
    assert signal in config["table.include.list"].split(",")
    table = signal.split(".")[1]
    assert re.search(config["predicates.isRelayTable.pattern"], f"shop.public.{table}")
    from stack.relay import REQUIRED_TABLES

    assert table in REQUIRED_TABLES  # the relay waits for the migration that creates it
