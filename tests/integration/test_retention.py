"""Pruning the inbox and notifications against real PostgreSQL: only past the horizon, in batches,
and a redelivery inside the horizon is still a no-op."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from consumers.events import InboundEvent
from consumers.inbox import claim
from orders_site.eventstore.models import ProcessedEvent, StoredEvent
from orders_site.notifications.models import Notification
from orders_site.eventstore.cause import Cause
from orders_site.notifications.services import Outcome, notify_outcomes
from orders_site.orders.checkout import CheckoutLine, CheckoutRequest, place_order

pytestmark = [pytest.mark.usefixtures("catalog"), pytest.mark.django_db(transaction=True)]


def delivered(order_id: uuid.UUID, event_id: uuid.UUID) -> InboundEvent:
    return InboundEvent(event_id=event_id, event_type="OrderStatusChanged", aggregate_type="order",
                        aggregate_id=str(order_id), sequence=5, correlation_id=None, causation_id=None, payload=b"",
                        topic="shop.order.events", partition=0, offset=0)


def handle(event: InboundEvent) -> None:
    """What the runtime does with an event for the notification service: claim, then apply."""
    with transaction.atomic():
        if claim("notification", [event.event_id]):
            notify_outcomes([Outcome(uuid.UUID(event.aggregate_id), "DELIVERY_PREPARING", "",
                                     Cause(event.event_id, event.event_type, uuid.uuid4()))])


def handled_days_ago(alice, days: int) -> InboundEvent:
    order = place_order(alice.user.pk, CheckoutRequest((CheckoutLine("KB-001", 1),), "card"))
    event = delivered(order.pk, uuid.uuid4())
    handle(event)
    then = timezone.now() - timedelta(days=days)
    ProcessedEvent.objects.filter(event_id=event.event_id).update(processed_at=then)
    Notification.objects.filter(order=order).update(sent_at=then)
    return event


@override_settings(INBOX_RETENTION_DAYS=30, TOPIC_RETENTION_HOURS=168)
def test_prune_deletes_past_the_horizon_and_a_redelivery_inside_it_is_still_a_no_op(alice, tmp_path,
                                                                                   monkeypatch) -> None:
    monkeypatch.setenv("NOTIFICATIONS_FILE", str(tmp_path / "sent.log"))
    # given events handled 40 days ago (past the horizon) and 10 days ago (inside it)
    old = [handled_days_ago(alice, 40) for _ in range(3)]
    recent = handled_days_ago(alice, 10)
    events_before = StoredEvent.objects.count()
    # when the retention command runs, in batches smaller than what it deletes
    call_command("prune_retained", "--batch", "2")
    # then only what is past the horizon is gone
    assert not ProcessedEvent.objects.filter(event_id__in=[e.event_id for e in old]).exists()
    assert not Notification.objects.filter(order_id__in=[e.aggregate_id for e in old]).exists()
    assert ProcessedEvent.objects.filter(event_id=recent.event_id).count() == 1
    assert Notification.objects.filter(order_id=recent.aggregate_id).count() == 1
    # then the event store is untouched (append-only)
    assert StoredEvent.objects.count() == events_before
    # when the recent event is redelivered
    handle(recent)
    # then it changes nothing: no second notification, no second NotificationSent
    assert Notification.objects.filter(order_id=recent.aggregate_id).count() == 1
    assert StoredEvent.objects.count() == events_before
    assert (tmp_path / "sent.log").read_text().count("\n") == 4  # the four first sends, nothing more


@override_settings(INBOX_RETENTION_DAYS=7, TOPIC_RETENTION_HOURS=168)
def test_a_horizon_not_longer_than_the_topics_retention_is_refused_before_deleting(alice) -> None:
    event = handled_days_ago(alice, 40)
    with pytest.raises(CommandError, match="not longer than the topics' retention"):
        call_command("prune_retained")
    assert ProcessedEvent.objects.filter(event_id=event.event_id).exists()
