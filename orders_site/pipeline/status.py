"""Reading the pipeline's health: consumer lag, the relay's connector and replication slot, dead letters.

Read-only and side-effect free: every `fetch_*` asks the component itself (Kafka's committed offsets
and watermarks, Kafka Connect's REST API, PostgreSQL's `pg_replication_slots`) and returns small
frozen dataclasses. A component that does not answer is reported as such (never raised), so a
dashboard or a cron check can show what it knows. The admin's pipeline page, `manage.py
pipeline_status` and the metrics collectors all read through here.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from django.conf import settings
from django.db import connections

from consumers.registry import SERVICE_NAMES as SERVICES
from consumers.config import group_name
from consumers.kafka import dlq_topic
from stack import connector

SLOT_NAME = "orders_outbox"  # connect/outbox-connector.json, slot.name


@dataclass(frozen=True)
class PipelineConfig:
    """Where the pipeline's parts answer; read once from Django settings."""

    bootstrap: str
    connect_url: str
    connector_name: str
    slot_name: str = SLOT_NAME
    timeout: float = 5.0

    @classmethod
    def from_settings(cls) -> "PipelineConfig":
        return cls(bootstrap=settings.KAFKA_BOOTSTRAP_SERVERS, connect_url=settings.KAFKA_CONNECT_URL,
                   connector_name=connector.load_definition()["name"])


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int | None  # None: the group never committed on this partition (it reads from the start)
    end: int  # high watermark

    @property
    def lag(self) -> int:
        return max(self.end - (self.committed or 0), 0)


@dataclass(frozen=True)
class GroupLag:
    service: str
    group: str
    partitions: tuple[PartitionLag, ...]
    error: str = ""  # non-empty when the broker did not answer for this group

    @property
    def total(self) -> int:
        return sum(p.lag for p in self.partitions)


@dataclass(frozen=True)
class TaskState:
    id: int
    state: str
    worker: str
    trace: str = ""


@dataclass(frozen=True)
class ConnectorState:
    name: str
    state: str  # RUNNING / PAUSED / STOPPED / FAILED / UNASSIGNED, or UNREACHABLE when the worker does not answer
    tasks: tuple[TaskState, ...] = ()
    error: str = ""  # the connector's or first failed task's trace (last error)

    @property
    def healthy(self) -> bool:
        return self.state == "RUNNING" and bool(self.tasks) and all(t.state == "RUNNING" for t in self.tasks)


@dataclass(frozen=True)
class SlotState:
    name: str
    exists: bool
    active: bool = False
    retained_wal_bytes: int = 0  # WAL PostgreSQL keeps for this slot (current LSN - restart_lsn)
    wal_status: str = ""  # reserved / extended / unreserved / lost
    error: str = ""

    @property
    def healthy(self) -> bool:
        return self.exists and self.active and self.wal_status != "lost"


@dataclass(frozen=True)
class DeadLetterCount:
    service: str
    topic: str
    messages: int  # end - beginning over every partition (the topic is never compacted)
    error: str = ""


@dataclass(frozen=True)
class PipelineStatus:
    connector: ConnectorState
    slot: SlotState
    lag: tuple[GroupLag, ...]
    dead_letters: tuple[DeadLetterCount, ...]
    problems: tuple[str, ...] = field(default=())

    @property
    def healthy(self) -> bool:
        return not self.problems


def service_topics(service: str) -> list[str]:
    """The topics a consumer service reads (its own declaration, not a second list)."""
    return list(importlib.import_module(f"consumers.{service}").SERVICE.topics)


def _probe(cfg: PipelineConfig) -> Consumer:
    # A consumer that never subscribes: it only reads watermarks, so it joins no group.
    return Consumer({"bootstrap.servers": cfg.bootstrap, "group.id": "orders-pipeline-status-probe",
                     "enable.auto.commit": False, "socket.timeout.ms": int(cfg.timeout * 1000)})


def fetch_consumer_lag(cfg: PipelineConfig, services: Iterable[str] = SERVICES) -> list[GroupLag]:
    """Per consumer group and partition: committed offset, end offset and lag."""
    admin = AdminClient({"bootstrap.servers": cfg.bootstrap})
    probe = _probe(cfg)
    result: list[GroupLag] = []
    try:
        try:
            metadata = admin.list_topics(timeout=cfg.timeout).topics
        except KafkaException as err:
            return [GroupLag(s, group_name(s), (), error=f"broker unreachable: {err}") for s in services]
        for service in services:
            group = group_name(service)
            wanted = [TopicPartition(t, p) for t in service_topics(service) if t in metadata
                      for p in sorted(metadata[t].partitions)]
            if not wanted:
                result.append(GroupLag(service, group, ()))
                continue
            try:
                future = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, wanted)])[group]
                committed = future.result(cfg.timeout)
                rows = tuple(
                    PartitionLag(group, tp.topic, tp.partition, tp.offset if tp.offset >= 0 else None,
                                 probe.get_watermark_offsets(TopicPartition(tp.topic, tp.partition),
                                                             timeout=cfg.timeout)[1])
                    for tp in sorted(committed.topic_partitions, key=lambda t: (t.topic, t.partition)))
                result.append(GroupLag(service, group, rows))
            except KafkaException as err:
                result.append(GroupLag(service, group, (), error=str(err)))
    finally:
        probe.close()
    return result


def fetch_connector_state(cfg: PipelineConfig) -> ConnectorState:
    """The relay's connector and tasks as Kafka Connect reports them, with the last error's trace."""
    status = connector.fetch_status(cfg.connect_url, cfg.connector_name)
    if status is None:
        return ConnectorState(cfg.connector_name, "UNREACHABLE",
                              error=f"Kafka Connect at {cfg.connect_url} did not answer for {cfg.connector_name}")
    tasks = tuple(TaskState(int(t["id"]), t["state"], t.get("worker_id", ""), t.get("trace", ""))
                  for t in status.get("tasks", []))
    return ConnectorState(cfg.connector_name, status["connector"]["state"], tasks,
                          error=connector.task_failure(status) or "")


def fetch_slot_state(cfg: PipelineConfig, using: str = "default") -> SlotState:
    """The relay's replication slot: active (a walsender streams from it) and WAL retained for it."""
    try:
        with connections[using].cursor() as cur:
            cur.execute("SELECT active, COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint, "
                        "COALESCE(wal_status, '') FROM pg_replication_slots "
                        "WHERE slot_name = %s AND database = current_database()", [cfg.slot_name])
            row = cur.fetchone()
    except Exception as err:  # noqa: BLE001 - a status read reports the database's absence, never raises
        return SlotState(cfg.slot_name, exists=False, error=f"database: {err}")
    if row is None:
        return SlotState(cfg.slot_name, exists=False, error="no such replication slot")
    return SlotState(cfg.slot_name, exists=True, active=bool(row[0]), retained_wal_bytes=int(row[1]),
                     wal_status=row[2])


def fetch_dead_letter_counts(cfg: PipelineConfig, services: Iterable[str] = SERVICES) -> list[DeadLetterCount]:
    """Messages waiting in each service's dead-letter topic (0 when the topic does not exist yet)."""
    admin = AdminClient({"bootstrap.servers": cfg.bootstrap})
    try:
        metadata = admin.list_topics(timeout=cfg.timeout).topics
    except KafkaException as err:
        return [DeadLetterCount(s, dlq_topic(s), 0, error=f"broker unreachable: {err}") for s in services]
    probe = _probe(cfg)
    try:
        counts = []
        for service in services:
            topic = dlq_topic(service)
            total = 0
            for partition in (metadata[topic].partitions if topic in metadata else {}):
                low, high = probe.get_watermark_offsets(TopicPartition(topic, partition), timeout=cfg.timeout)
                total += max(high - low, 0)
            counts.append(DeadLetterCount(service, topic, total))
        return counts
    finally:
        probe.close()


def check_health(connector_state: ConnectorState, slot: SlotState, lag: Iterable[GroupLag],
                 dead_letters: Iterable[DeadLetterCount], *, max_lag: int = 1000) -> list[str]:
    """What is wrong, in words; [] when healthy. Pure, so the thresholds are unit-tested."""
    problems = []
    if not connector_state.healthy:
        problems.append(f"connector {connector_state.name} {connector_state.state}"
                        + (f": {connector_state.error.splitlines()[0]}" if connector_state.error else ""))
    if not slot.healthy:
        problems.append(f"replication slot {slot.name} " + (slot.error or ("inactive" if not slot.active
                                                                            else f"WAL {slot.wal_status}")))
    for group in lag:
        if group.error:
            problems.append(f"consumer group {group.group}: {group.error}")
        elif group.total > max_lag:
            problems.append(f"consumer group {group.group} lags {group.total} messages")
    for dlq in dead_letters:
        if dlq.error:
            problems.append(f"{dlq.topic}: {dlq.error}")
        elif dlq.messages:
            problems.append(f"{dlq.topic} holds {dlq.messages} dead letters")
    return problems


def fetch_pipeline_status(cfg: PipelineConfig | None = None, *, max_lag: int = 1000) -> PipelineStatus:
    """Everything above in one read."""
    cfg = cfg or PipelineConfig.from_settings()
    state, slot = fetch_connector_state(cfg), fetch_slot_state(cfg)
    lag, dlq = tuple(fetch_consumer_lag(cfg)), tuple(fetch_dead_letter_counts(cfg))
    return PipelineStatus(state, slot, lag, dlq, tuple(check_health(state, slot, lag, dlq, max_lag=max_lag)))
