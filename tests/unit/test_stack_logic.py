"""Pure logic of the embedded stack's launchers: the broker's settings, the supervisor's
configuration and log reading, the order of readiness checks, the JVM manifest."""
from __future__ import annotations

import configparser
from dataclasses import replace
from pathlib import Path

from stack import broker, config, jvm, run, supervision
from stack.components import CONSUMER_PROCESSES, PROCESSES


def _cfg(tmp_path: Path) -> config.StackConfig:
    return replace(config.load(), data_dir=tmp_path, kafka_bootstrap="127.0.0.1:19092", kafka_controller_port=19093)


def _properties(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))


def test_the_broker_is_one_kraft_node_with_its_log_in_the_data_directory(tmp_path: Path) -> None:
    props = _properties(broker.server_properties(_cfg(tmp_path)))
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["log.dirs"] == str(tmp_path / "kafka" / "logs")
    # one node: Kafka's own topics cannot ask for three replicas
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "share.coordinator.state.topic.replication.factor"):
        assert props[key] == "1"


def test_an_unformatted_log_directory_is_not_taken_for_a_formatted_one(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    broker.log_dir(cfg).mkdir(parents=True)
    (broker.log_dir(cfg) / "bootstrap.checkpoint").write_bytes(b"half a format")
    assert not broker.formatted(cfg)
    (broker.log_dir(cfg) / "meta.properties").write_text("node.id=1\n")
    assert broker.formatted(cfg)


def test_the_supervisor_runs_every_process_once_and_restarts_only_unexpected_exits(tmp_path: Path) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(supervision.write_config(_cfg(tmp_path)))
    programs = {s.removeprefix("program:"): parser[s] for s in parser.sections() if s.startswith("program:")}
    assert set(programs) == {p.name for p in PROCESSES}
    assert set(CONSUMER_PROCESSES) <= set(programs)
    for name, program in programs.items():
        assert program["autorestart"] == "unexpected" and program["exitcodes"] == "0", name
        assert program["stdout_logfile"] == str(tmp_path / "logs" / f"{name}.log")
    assert programs["postgres"]["stopsignal"] == "INT"  # PostgreSQL's fast shutdown
    assert int(programs["postgres"]["priority"]) < int(programs["broker"]["priority"]) < int(programs["relay"]["priority"])


def test_restarts_are_counted_from_the_current_supervisor_run_only() -> None:
    log = "\n".join([
        "2026-11-27 10:00:00,000 INFO supervisord started with pid 1",
        "2026-11-27 10:00:01,000 INFO spawned: 'broker' with pid 2",
        "2026-11-27 10:00:01,000 INFO spawned: 'broker' with pid 3",
        "2026-11-27 11:00:00,000 INFO supervisord started with pid 10",
        "2026-11-27 11:00:01,000 INFO spawned: 'broker' with pid 11",
        "2026-11-27 11:00:02,000 INFO spawned: 'web' with pid 12",
        "2026-11-27 11:00:09,000 INFO exited: broker (terminated by SIGKILL; not expected)",
        "2026-11-27 11:00:10,000 INFO spawned: 'broker' with pid 13",
    ])
    assert supervision.count_starts(log) == {"broker": 2, "web": 1}


def test_the_log_follower_reports_only_new_complete_noteworthy_lines(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    path = supervision.supervisord_log(cfg)
    path.parent.mkdir(parents=True)
    path.write_text("2026-11-27 10:00:00,000 INFO spawned: 'old' with pid 1\n")
    follower = supervision.LogFollower(cfg)
    with path.open("a") as f:
        f.write("2026-11-27 10:00:01,000 INFO success: web entered RUNNING state\n"
                "2026-11-27 10:00:02,000 WARN exited: web (terminated by SIGKILL; not expected)\n"
                "2026-11-27 10:00:03,000 INFO spawned: 'web' with p")
    assert follower.new_lines() == ["exited: web (terminated by SIGKILL; not expected)"]
    with path.open("a") as f:
        f.write("id 7\n")
    assert follower.new_lines() == ["spawned: 'web' with pid 7"]
    assert follower.new_lines() == []


def test_a_readiness_check_is_only_tried_once_those_before_it_passed() -> None:
    tried: list[str] = []

    def check(name: str, result: bool):
        return lambda: tried.append(name) or result

    checks = {"database": check("database", True), "broker": check("broker", False), "consumers": check("consumers", True)}
    assert run.pending(checks) == ["broker", "consumers"]
    assert tried == ["database", "broker"]


def test_the_manifest_pins_kafka_and_debezium() -> None:
    versions = jvm.pinned_versions()
    assert versions["kafka.version"].startswith("4.")
    assert versions["debezium.version"].endswith(".Final")


def test_a_new_kafka_cluster_id_never_starts_like_an_option() -> None:
    from stack.broker import new_cluster_id

    ids = [new_cluster_id() for _ in range(2000)]  # ~31 would start with "-" without the redraw
    assert not [i for i in ids if i.startswith("-")] and all(len(i) == 22 for i in ids)
