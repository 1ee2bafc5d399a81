"""The relay's and the consumer groups' state as metrics, read at scrape time through
orders_site/pipeline/status.py (the same reads as `manage.py pipeline_status`), plus how far the
relay is behind its source."""
from __future__ import annotations

import time
from collections.abc import Iterator

from django.db import connection
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from orders_site.pipeline import status
from stack import connector

CONNECTOR_STATES = ("RUNNING", "PAUSED", "STOPPED", "FAILED", "UNASSIGNED", "RESTARTING", "UNREACHABLE")


def relay_behind_seconds(cfg: status.PipelineConfig) -> float | None:
    """Seconds between the newest event committed to the event store and the newest commit the
    relay has confirmed (Debezium's source offset `ts_usec`, flushed every second); 0 when it has
    everything, None when Kafka Connect does not tell.

    Heartbeats move the offset while the store is quiet, so an idle relay reads 0, not its idle time.
    """
    offsets = connector.fetch_offsets(cfg.connect_url, cfg.connector_name)
    if not offsets:
        return None
    ts_usec = max(int(o.get("offset", {}).get("ts_usec", 0)) for o in offsets)
    with connection.cursor() as cur:
        cur.execute("SELECT EXTRACT(EPOCH FROM max(occurred_at)) FROM event_store")
        newest = cur.fetchone()[0]
    if newest is None:
        return 0.0
    return max(float(newest) - ts_usec / 1e6, 0.0)


class PipelineCollector(Collector):
    def __init__(self, cfg: status.PipelineConfig | None = None) -> None:
        self.cfg = cfg

    def collect(self) -> Iterator[object]:
        cfg = self.cfg or status.PipelineConfig.from_settings()
        started = time.perf_counter()
        yield from self._connector(cfg)
        yield from self._slot(cfg)
        yield from self._lag(cfg)
        yield from self._dead_letters(cfg)
        yield GaugeMetricFamily("orders_pipeline_scrape_seconds", "Time this scrape spent asking the pipeline",
                                value=time.perf_counter() - started)

    @staticmethod
    def _connector(cfg: status.PipelineConfig) -> Iterator[object]:
        state = status.fetch_connector_state(cfg)
        conn = GaugeMetricFamily("orders_relay_connector_state", "1 for the connector's current state",
                                 labels=["connector", "state"])
        for s in CONNECTOR_STATES:
            conn.add_metric([state.name, s], 1 if state.state == s else 0)
        yield conn
        tasks = GaugeMetricFamily("orders_relay_task_running", "1 when the connector task runs",
                                  labels=["connector", "task"])
        for task in state.tasks:
            tasks.add_metric([state.name, str(task.id)], 1 if task.state == "RUNNING" else 0)
        yield tasks
        behind = relay_behind_seconds(cfg) if state.state != "UNREACHABLE" else None
        if behind is not None:
            yield GaugeMetricFamily("orders_relay_behind_source_seconds",
                                    "Newest event in the store minus the newest commit the relay confirmed",
                                    value=behind)

    @staticmethod
    def _slot(cfg: status.PipelineConfig) -> Iterator[object]:
        slot = status.fetch_slot_state(cfg)
        yield _one("orders_relay_slot_active", "1 when a walsender streams from the relay's slot", "slot", slot.name,
                   1 if slot.active else 0)
        yield _one("orders_relay_slot_exists", "1 when the relay's replication slot exists", "slot", slot.name,
                   1 if slot.exists else 0)
        yield _one("orders_relay_slot_retained_wal_bytes", "WAL PostgreSQL retains for the relay's slot",
                   "slot", slot.name, slot.retained_wal_bytes)

    @staticmethod
    def _lag(cfg: status.PipelineConfig) -> Iterator[object]:
        lag = GaugeMetricFamily("orders_consumer_group_lag", "Messages not yet committed by a consumer group",
                                labels=["consumer", "topic", "partition"])
        up = GaugeMetricFamily("orders_consumer_group_readable", "1 when the broker answered for the group",
                               labels=["consumer"])
        for group in status.fetch_consumer_lag(cfg):
            up.add_metric([group.service], 0 if group.error else 1)
            for p in group.partitions:
                lag.add_metric([group.service, p.topic, str(p.partition)], p.lag)
        yield lag
        yield up

    @staticmethod
    def _dead_letters(cfg: status.PipelineConfig) -> Iterator[object]:
        dlq = GaugeMetricFamily("orders_dead_letters", "Messages in a service's dead-letter topic",
                                labels=["consumer", "topic"])
        for count in status.fetch_dead_letter_counts(cfg):
            if not count.error:
                dlq.add_metric([count.service, count.topic], count.messages)
        yield dlq


def _one(name: str, doc: str, label: str, value_label: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[label])
    family.add_metric([value_label], value)
    return family
