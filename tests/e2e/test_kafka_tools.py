"""The broker speaks Kafka to ordinary tools: Debian's kcat lists and reads the topics, and consumer
lag computed from committed offsets and high watermarks reaches exactly zero once the saga drained."""
from __future__ import annotations

import json
import subprocess
import time

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from consumers.registry import SERVICE_NAMES
from consumers.config import group_name
from stack.harness import EmbeddedStack

from .saga_helpers import checkout, new_customer, new_product, wait_final

pytestmark = pytest.mark.e2e


def test_kcat_lists_the_topics_and_reads_an_order_event(saga: EmbeddedStack) -> None:
    order = checkout(new_customer("kcat"), new_product(5), 1)
    wait_final([order.pk])
    listing = subprocess.run(["kcat", "-b", saga.cfg.kafka_bootstrap, "-L", "-J"], capture_output=True, text=True,
                             timeout=30)
    assert listing.returncode == 0, listing.stderr
    topics = {t["topic"] for t in json.loads(listing.stdout)["topics"]}
    assert {"shop.order.events", "shop.stock.events", "shop.payment.events"} <= topics
    read = subprocess.run(["kcat", "-b", saga.cfg.kafka_bootstrap, "-C", "-t", "shop.order.events", "-o", "beginning",
                           "-e", "-q", "-f", "%k %h\n"], capture_output=True, text=True, timeout=60)
    assert read.returncode == 0, read.stderr
    assert any(line.startswith(str(order.pk)) and "eventType=OrderCreated" in line for line in read.stdout.splitlines())


def _lag(admin: AdminClient, probe: Consumer, service: str) -> dict[tuple[str, int], tuple[int, int]]:
    """(committed, end) for every partition of every topic the service reads; a partition the group
    never committed counts as committed at 0 (all of it unread)."""
    import importlib

    from confluent_kafka import ConsumerGroupTopicPartitions

    topics = importlib.import_module(f"consumers.{service}").SERVICE.topics
    metadata = admin.list_topics(timeout=10).topics
    wanted = [TopicPartition(t, p) for t in topics for p in metadata[t].partitions]
    group = group_name(service)
    result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, wanted)])[group].result()
    return {(tp.topic, tp.partition): (max(tp.offset, 0),
                                       probe.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=10)[1])
            for tp in result.topic_partitions}


def test_consumer_lag_is_exactly_zero_once_the_saga_has_drained(saga: EmbeddedStack) -> None:
    sku = new_product(20)
    orders = [checkout(new_customer("lag"), sku, 1) for _ in range(10)]
    assert set(wait_final([o.pk for o in orders]).values()) == {"DELIVERY_PREPARING"}
    admin = AdminClient({"bootstrap.servers": saga.cfg.kafka_bootstrap})
    probe = Consumer({"bootstrap.servers": saga.cfg.kafka_bootstrap, "group.id": "lag-probe"})
    try:
        deadline = time.monotonic() + 30
        while True:  # trailing events (sale, notification) and the 1 s auto-commit settle first
            lags = {s: _lag(admin, probe, s) for s in SERVICE_NAMES}
            behind = {s: {tp: ce for tp, ce in lag.items() if ce[0] != ce[1]} for s, lag in lags.items()}
            if not any(behind.values()) or time.monotonic() > deadline:
                break
            time.sleep(1)
    finally:
        probe.close()
    assert all(lags.values()), "every service reads some partitions"
    assert behind == {s: {} for s in SERVICE_NAMES}
    # a committed offset is never past the end a lag tool reads
    assert all(committed <= end for lag in lags.values() for committed, end in lag.values())
