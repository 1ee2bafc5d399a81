"""What every handler passes on from the event it reacts to: the saga's correlation id, and itself
as the cause of what it writes."""
from __future__ import annotations

import uuid

from orders_site.catalog.reservations import Context
from orders_site.orders.transitions import Cause

from .events import InboundEvent


def order_id(event: InboundEvent) -> uuid.UUID:
    return uuid.UUID(str(event.record["order_id"]))


def correlation(event: InboundEvent) -> uuid.UUID:
    return event.correlation_id or event.event_id


def stock_context(event: InboundEvent) -> Context:
    return Context(correlation_id=correlation(event), cause_event_id=event.event_id)


def cause(event: InboundEvent) -> Cause:
    return Cause(event_id=event.event_id, event_type=event.event_type, correlation_id=correlation(event))
