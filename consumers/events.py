"""The inbound event as a handler sees it: Kafka headers set by Debezium's EventRouter + the payload."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from orders_site.eventstore.cause import Cause


class PoisonMessage(Exception):
    """A message that can never be processed (no event id, undecodable payload, unknown schema)."""


@dataclass(frozen=True)
class InboundEvent:
    event_id: uuid.UUID
    event_type: str
    aggregate_type: str
    aggregate_id: str
    sequence: int | None
    correlation_id: uuid.UUID | None
    causation_id: uuid.UUID | None
    payload: bytes
    topic: str
    partition: int
    offset: int
    record: dict[str, Any] = field(default_factory=dict)


def aggregate_of_topic(topic: str) -> str:
    """`shop.<aggregate>.events` -> `<aggregate>` (the relay routes by aggregate type)."""
    parts = topic.split(".")
    return parts[1] if len(parts) == 3 and parts[0] == "shop" and parts[2] == "events" else ""


def _uuid(raw: bytes | None) -> uuid.UUID | None:
    return uuid.UUID(raw.decode()) if raw else None


def from_message(msg: Any) -> InboundEvent:
    """Build an InboundEvent from a confluent-kafka Message; raises PoisonMessage when it cannot."""
    headers = {k: v for k, v in (msg.headers() or [])}
    try:
        event_id = _uuid(headers.get("id"))
        event_type = (headers.get("eventType") or b"").decode()
        if event_id is None or not event_type:
            raise PoisonMessage("missing id or eventType header")
        sequence = headers.get("sequence")
        return InboundEvent(
            event_id=event_id,
            event_type=event_type,
            aggregate_type=aggregate_of_topic(msg.topic()),
            aggregate_id=(msg.key() or b"").decode(),
            sequence=int(sequence) if sequence else None,
            correlation_id=_uuid(headers.get("correlationId")),
            causation_id=_uuid(headers.get("causationId")),
            payload=msg.value() or b"",
            topic=msg.topic(),
            partition=msg.partition(),
            offset=msg.offset(),
        )
    except (ValueError, UnicodeDecodeError) as err:
        raise PoisonMessage(f"malformed headers: {err}") from err


def decoded(event: InboundEvent) -> InboundEvent:
    """The event with its Avro payload decoded; PoisonMessage if it cannot be (unknown schema...)."""
    from orders_site.eventstore import avro

    try:
        return replace(event, record=avro.decode(event.payload, expected_event_type=event.event_type).record)
    except avro.SchemaError as err:
        raise PoisonMessage(str(err)) from err


def cause_of(event: InboundEvent) -> Cause:
    """The event as the cause of what a handler writes: the saga's correlation id carried on."""
    return Cause(event_id=event.event_id, event_type=event.event_type,
                 correlation_id=event.correlation_id or event.event_id)


def order_of(event: InboundEvent) -> uuid.UUID:
    """The order a (decoded) saga event is about."""
    try:
        return uuid.UUID(str(event.record["order_id"]))
    except (KeyError, ValueError) as err:
        raise PoisonMessage(f"{event.event_type} without a valid order_id") from err
