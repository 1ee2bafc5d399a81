"""The launchers fail fast, naming the fix, when a precondition is missing, and leave nothing half
made that would break the next start."""
from __future__ import annotations

import shutil
import signal
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from stack import broker, config, connector, jvm, postgres, relay, run
from stack.errors import StackError
from stack.harness import EmbeddedStack, free_port
from stack.procs import spawn


def test_missing_java_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(StackError, match="Java is missing.*openjdk-17"):
        jvm.check_java()


def test_missing_maven_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "mvn" else real_which(name))
    cfg = replace(config.load(), jars_dir=tmp_path / "jars")
    with pytest.raises(StackError, match="Maven is missing.*maven"):
        jvm.resolve(cfg)
    assert not (tmp_path / "jars").exists()


def test_a_failed_resolution_says_so_and_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # given a manifest naming a version Maven Central does not serve
    bad = tmp_path / "pom.xml"
    bad.write_text(jvm.MANIFEST.read_text().replace("<kafka.version>", "<kafka.version>0.0.0-no-such-"))
    monkeypatch.setattr(jvm, "MANIFEST", bad)
    cfg = replace(config.load(), jars_dir=tmp_path / "jars")
    # when the jars are resolved, then the error names the manifest, and no directory is left over
    with pytest.raises(StackError, match="could not resolve jvm/pom.xml"):
        jvm.resolve(cfg)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pom.xml"]


def test_a_port_in_use_stops_the_start_naming_the_variable(tmp_path: Path) -> None:
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        cfg = replace(config.load(), data_dir=tmp_path, web_port=port, kafka_bootstrap=f"127.0.0.1:{free_port()}",
                      kafka_controller_port=free_port(), connect_port=free_port(), gateway_port=free_port(),
                      db_port=free_port())
        with pytest.raises(StackError, match=f"port {port} \\(the web app\\) is already in use.*WEB_PORT"):
            run.prepare(cfg)
    # and nothing was prepared: no cluster, no Kafka log directory
    assert not (tmp_path / "pg").exists() and not (tmp_path / "kafka").exists()


def test_wal_level_other_than_logical_is_refused(pg_stack: EmbeddedStack) -> None:
    # given a real PostgreSQL running with wal_level=replica
    data = Path(tempfile.mkdtemp(prefix="orders-walcheck-"))
    data.chmod(0o755)
    cfg = replace(pg_stack.cfg, data_dir=data, db_port=free_port(), db_name="postgres")
    postgres.init_cluster(cfg.pg_data)
    argv = [a if a != "wal_level=logical" else "wal_level=replica" for a in postgres.server_argv(cfg)]
    server = spawn(argv, user=postgres.PG_USER if postgres.is_root() else None)
    try:
        postgres.wait_ready(cfg, timeout=60)
        # then the relay's check names the setting and the fix
        with pytest.raises(StackError, match="wal_level=replica.*wal_level=logical"):
            postgres.check_logical_wal(cfg)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(30)
        shutil.rmtree(data, ignore_errors=True)


def test_an_unreachable_broker_is_reported(pg_stack: EmbeddedStack, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = replace(pg_stack.cfg, kafka_bootstrap=f"127.0.0.1:{free_port()}")
    assert broker.reachable(cfg) is False
    monkeypatch.setattr(broker, "wait_ready", lambda *a, **k: (_ for _ in ()).throw(StackError("timed out")))
    with pytest.raises(StackError, match=f"broker at {cfg.kafka_bootstrap} is unreachable"):
        relay.Relay(cfg).preflight()


def test_a_failed_task_surfaces_its_trace() -> None:
    status = {"connector": {"state": "RUNNING"},
              "tasks": [{"id": 0, "state": "FAILED", "trace": "org.postgresql.util.PSQLException: slot in use"}]}
    assert "slot in use" in connector.task_failure(status)
    assert connector.task_failure({"connector": {"state": "RUNNING"}, "tasks": [{"id": 0, "state": "RUNNING"}]}) is None


@pytest.mark.django_db(transaction=True)
def test_the_relay_waits_for_its_publication_as_well_as_its_tables(pg_stack: EmbeddedStack) -> None:
    # The publication comes from a later migration than the tables, and the connector does not
    # create it: a relay started in between would fail its task instead of waiting.
    import importlib

    from django.db import connection

    migration = importlib.import_module("orders_site.eventstore.migrations.0003_published")
    cfg = replace(pg_stack.cfg, db_name=connection.settings_dict["NAME"])
    assert relay.check_migrated(cfg)
    with connection.cursor() as cur:
        cur.execute("DROP PUBLICATION orders_outbox")
    try:
        assert not relay.check_migrated(cfg)
    finally:
        with connection.cursor() as cur:
            cur.execute(migration.publication(migration.TABLES))
    assert relay.check_migrated(cfg)
