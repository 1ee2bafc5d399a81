"""An operator sends a customer's notification again (lost mail, a customer asking)."""
from __future__ import annotations

import uuid

from django.db import transaction

from orders_site.eventstore.store import record_event
from orders_site.orders.cancellation import fetch_correlation

from .models import Notification
from .services import _deliver


def resend(notification_id: uuid.UUID, *, staff_username: str) -> Notification:
    """Record NotificationResent (naming the staff user) and send the same text again once that
    commits. Opens its own transaction; Notification.DoesNotExist for an unknown id."""
    with transaction.atomic():
        notification = Notification.objects.select_for_update().get(pk=notification_id)
        record_event("NotificationResent", str(notification.order_id), {
            "order_id": str(notification.order_id), "notification_id": str(notification.pk),
            "kind": notification.kind, "channel": notification.channel, "recipient": notification.recipient,
            "requested_by": staff_username}, correlation_id=fetch_correlation(notification.order_id))
        transaction.on_commit(lambda: _deliver([notification]), robust=True)
        return notification
