"""`manage.py republish`: a consumer that missed an order's events catches up from a re-publication
through the relay, in sequence order, and every other consumer changes nothing twice."""
from __future__ import annotations

import time

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient
from django.core.management import call_command
from django.db import connection

from consumers.config import group_name
from orders_site.eventstore.models import ProcessedEvent, StoredEvent
from orders_site.notifications.models import Notification
from orders_site.payments.models import Payment
from orders_site.shipping.models import Delivery
from stack.harness import EmbeddedStack, wait_for

from .kafka_reader import collect, end_offsets, out_of_order
from .saga_helpers import checkout, gateway, new_customer, new_product, stock_of, wait_final

pytestmark = pytest.mark.e2e


def skip_to_end(stack: EmbeddedStack, service: str, topic: str) -> None:
    """Move a stopped service's group past everything on `topic`: as if those messages were lost to it."""
    prefix = stack[f"consumer-{service}"].env.get("CONSUMER_GROUP_PREFIX", "orders")
    group = f"{prefix}-{service}" if prefix else group_name(service)
    ends = end_offsets(stack.cfg.kafka_bootstrap, topic)
    admin = AdminClient({"bootstrap.servers": stack.cfg.kafka_bootstrap})
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p, o) for p, o in ends.items()])
    admin.alter_consumer_group_offsets([request])[group].result(30)


def test_a_consumer_that_missed_events_catches_up_from_a_republish(saga: EmbeddedStack) -> None:
    # given an order that completed while the notification service was down, and whose events
    # that service will never read (its group moved past them)
    saga["consumer-notification"].stop()
    sku = new_product(2)
    order = checkout(new_customer("republish"), sku, 1)
    assert wait_final([order.pk])[order.pk] == "DELIVERY_PREPARING"
    wait_for(lambda: stock_of(sku) == (2, 1, 0, 1) or connection.close(), 60, "the stock sale")
    kept = list(StoredEvent.objects.filter(aggregate_id=str(order.pk)).order_by("sequence"))
    stored = [e for e in kept if e.published]
    unpublished = {str(e.event_id) for e in kept if not e.published}
    assert len(unpublished) == 2  # the order's progress statuses (stock held, paid)
    order_events = {str(e.event_id) for e in stored if e.aggregate_type == "order"}
    assert order_events <= set(collect(saga.cfg.kafka_bootstrap, "shop.order.events", order_events).counts)
    skip_to_end(saga, "notification", "shop.order.events")
    saga["consumer-notification"].start()
    time.sleep(8)  # it joins its group and finds nothing to read
    assert Notification.objects.filter(order=order).count() == 0

    def effects() -> tuple:
        connection.close()
        return (list(Payment.objects.filter(order=order).values_list("status", flat=True)),
                Delivery.objects.filter(order=order).count(), stock_of(sku),
                StoredEvent.objects.exclude(event_type="NotificationSent").count(), gateway(saga, "/v1/ledger")["captures"],
                {c: ProcessedEvent.objects.filter(consumer=c).count()
                 for c in ("order", "stock", "payment", "delivery")})
    before = effects()
    sent_before = StoredEvent.objects.filter(event_type="NotificationSent").count()
    start = {topic: end_offsets(saga.cfg.kafka_bootstrap, topic)
             for topic in {f"shop.{e.aggregate_type}.events" for e in stored}}

    # when the order's events are re-published
    call_command("republish", order=str(order.pk))

    # then every one of them is on its topic again, in sequence order
    for topic, offsets in start.items():
        ids = {str(e.event_id) for e in stored if f"shop.{e.aggregate_type}.events" == topic}
        again = collect(saga.cfg.kafka_bootstrap, topic, ids, timeout=60, start=offsets)
        assert ids <= set(again.counts), f"not re-published on {topic}: {ids - set(again.counts)}"
        assert out_of_order(again.in_order) == {}
        assert not unpublished & set(again.counts), "an unpublished event was re-published"
    # then the service that missed them catches up: one notification, once
    wait_for(lambda: Notification.objects.filter(order=order).count() == 1 or connection.close(), 60,
             "the missed notification")
    time.sleep(3)  # and the other consumers have had the redeliveries in hand
    assert Notification.objects.filter(order=order).count() == 1
    # then nothing else changed: the redeliveries were no-ops for the consumers that had applied them
    assert effects() == before
    assert StoredEvent.objects.filter(event_type="NotificationSent").count() == sent_before + 1
