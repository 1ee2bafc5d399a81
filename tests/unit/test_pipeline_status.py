"""The pipeline health verdict (pure): what counts as a problem, named in words."""
from __future__ import annotations

from orders_site.pipeline.status import (ConnectorState, DeadLetterCount, GroupLag, PartitionLag, SlotState,
                                         TaskState, check_health)

RUNNING = ConnectorState("orders-outbox", "RUNNING", (TaskState(0, "RUNNING", "w1"),))
ACTIVE = SlotState("orders_outbox", exists=True, active=True, retained_wal_bytes=1024, wal_status="reserved")


def _group(*lags: tuple[int | None, int]) -> GroupLag:
    return GroupLag("order", "orders-order",
                    tuple(PartitionLag("orders-order", "shop.stock.events", i, c, e) for i, (c, e) in enumerate(lags)))


def test_a_running_relay_an_active_slot_no_lag_and_no_dead_letters_is_healthy() -> None:
    assert check_health(RUNNING, ACTIVE, [_group((5, 5))], [DeadLetterCount("order", "shop.dlq.order", 0)]) == []


def test_lag_counts_a_partition_never_committed_from_its_start() -> None:
    group = _group((None, 7), (3, 10))
    assert [p.lag for p in group.partitions] == [7, 7]
    assert group.total == 14


def test_each_unhealthy_part_is_named() -> None:
    failed = ConnectorState("orders-outbox", "RUNNING", (TaskState(0, "FAILED", "w1", "PSQLException: boom\n at"),),
                            error="PSQLException: boom\n at")
    problems = check_health(failed, SlotState("orders_outbox", exists=True, active=False),
                            [_group((0, 2000))], [DeadLetterCount("stock", "shop.dlq.stock", 3)], max_lag=1000)
    assert problems == ["connector orders-outbox RUNNING: PSQLException: boom",
                        "replication slot orders_outbox inactive",
                        "consumer group orders-order lags 2000 messages",
                        "shop.dlq.stock holds 3 dead letters"]


def test_an_unreachable_component_is_a_problem_not_an_exception() -> None:
    problems = check_health(ConnectorState("orders-outbox", "UNREACHABLE", error="no answer"),
                            SlotState("orders_outbox", exists=False, error="no such replication slot"),
                            [GroupLag("order", "orders-order", (), error="broker unreachable")], [])
    assert problems == ["connector orders-outbox UNREACHABLE: no answer",
                        "replication slot orders_outbox no such replication slot",
                        "consumer group orders-order: broker unreachable"]
