"""`manage.py republish` refuses, with a clear message and nothing written, what it must not do."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from orders_site.eventstore.store import NewEvent, append_event
from orders_site.replay.models import RelaySignal

pytestmark = [pytest.mark.usefixtures("catalog"), pytest.mark.django_db]


def test_an_unknown_order_or_a_bad_id_is_refused(alice) -> None:
    with pytest.raises(CommandError, match="no stored event"):
        call_command("republish", order=str(uuid.uuid4()))
    with pytest.raises(CommandError, match="not a UUID"):
        call_command("republish", order="42; DROP TABLE event_store")
    with pytest.raises(CommandError, match="ISO-8601"):
        call_command("republish", since="yesterday")
    assert not RelaySignal.objects.exists()


@override_settings(INBOX_RETENTION_DAYS=30)
def test_events_older_than_the_inbox_retention_are_refused_unless_asked() -> None:
    # given an aggregate whose event occurred 40 days ago
    aggregate = uuid.uuid4()
    with transaction.atomic():
        append_event(NewEvent("order", str(aggregate), "OrderCreated", b"\xc3\x01", "0" * 16,
                              correlation_id=uuid.uuid4(), occurred_at=timezone.now() - timedelta(days=40)))
    # when it is asked for, it is refused: the consumers' inbox no longer remembers it
    with pytest.raises(CommandError, match="past the inbox retention"):
        call_command("republish", order=str(aggregate))
    assert not RelaySignal.objects.exists()
    # and with --beyond-retention the request goes on to the relay: a signal for exactly that
    # aggregate's published events (the publication itself comes with the migrations)
    call_command("republish", order=str(aggregate), beyond_retention=True)
    (signal,) = RelaySignal.objects.all()
    assert f"published AND aggregate_id = '{aggregate}'" in signal.data
