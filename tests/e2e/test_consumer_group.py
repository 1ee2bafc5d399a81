"""Two live processes of one consumer service share its group (cooperative-sticky assignment):
both get partitions, every event is handled once in effect, and when one dies the other takes over."""
from __future__ import annotations

import re

import pytest
from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient

from consumers.config import group_name
from stack.harness import Component, EmbeddedStack, wait_for

from .saga_helpers import books_balance, checkout, new_customer, new_product, wait_final

pytestmark = pytest.mark.e2e


def _assignment(admin: AdminClient, group: str) -> list[int]:
    """Partitions held by each member of a stable group ([] while it rebalances)."""
    description = admin.describe_consumer_groups([group], request_timeout=10)[group].result()
    if description.state != ConsumerGroupState.STABLE:
        return []
    return sorted(len(m.assignment.topic_partitions) for m in description.members)


def _processed(component: Component) -> int:
    found = re.findall(r"stats processed=(\d+)", component.tail(2000))
    return int(found[-1]) if found else 0


def test_two_members_share_the_work_and_the_survivor_takes_over(saga: EmbeddedStack) -> None:
    group = group_name("notification")
    admin = AdminClient({"bootstrap.servers": saga.cfg.kafka_bootstrap})
    total = len(admin.list_topics("shop.order.events", timeout=10).topics["shop.order.events"].partitions)
    first = saga["consumer-notification"]
    second = Component("consumer-notification-2", ["consumer", "notification"], first.env,
                       first.log_path.with_name("consumer-notification-2.log"))
    second.start()
    try:
        # given a second live member of the notification service's group: both hold partitions
        def shared() -> bool:
            held = _assignment(admin, group)
            return len(held) == 2 and 0 not in held and sum(held) == total

        wait_for(shared, 60, "two members with partitions each")
        # when orders flow, each member handles those of its partitions
        sku = new_product(100)
        orders = [checkout(new_customer("group"), sku, 1) for _ in range(24)]
        assert set(wait_final([o.pk for o in orders]).values()) == {"DELIVERY_PREPARING"}
        wait_for(lambda: not books_balance(saga, orders), 30, "one notification per order")
        # (the counters are logged every 2 s)
        wait_for(lambda: _processed(second) > 0, 10, "the second member to have handled some of them")
        # and when the second dies without a word, the first takes every partition over
        second.kill()
        wait_for(lambda: _assignment(admin, group) == [total], 60, "the survivor to hold every partition")
        more = [checkout(new_customer("group"), sku, 1) for _ in range(8)]
        assert set(wait_final([o.pk for o in more]).values()) == {"DELIVERY_PREPARING"}
        # then every order got exactly one notification, whoever sent it
        wait_for(lambda: not books_balance(saga, orders + more), 30, "one notification per order")
    finally:
        second.kill()
