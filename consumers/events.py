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


@dataclass(frozen=True)
class Envelope:
    """What a message's headers say before anything is parsed for a handler: enough to track the
    aggregate's sequence and to tell whether the service handles the event at all. Most messages
    a service reads it does not handle (six of every order's fourteen, docs/benchmarks.md, "Saga,
    seventh pass"); those stop here, without their ids parsed or their payload decoded."""

    event_type: str
    sequence: int | None
    headers: dict[str, bytes | None]


def envelope_of(msg: Any) -> Envelope:
    """The message's event type and sequence; raises PoisonMessage when it has no usable ones."""
    headers = dict(msg.headers() or ())
    try:
        event_type = (headers.get("eventType") or b"").decode()
        sequence = headers.get("sequence")
        sequence = int(sequence) if sequence else None
    except (ValueError, UnicodeDecodeError) as err:
        raise PoisonMessage(f"malformed headers: {err}") from err
    if not event_type:
        raise PoisonMessage("missing eventType header")
    return Envelope(event_type, sequence, headers)


def from_message(msg: Any, envelope: Envelope | None = None, *, decode: bool = False) -> InboundEvent:
    """Build an InboundEvent from a confluent-kafka Message; raises PoisonMessage when it cannot.

    `envelope`: the message's envelope_of when the caller has it. `decode`: with the Avro payload
    decoded into `record` (as decoded() does), the event built once rather than twice."""
    envelope = envelope or envelope_of(msg)
    headers = envelope.headers
    try:
        event_id = _uuid(headers.get("id"))
        if event_id is None:
            raise PoisonMessage("missing id header")
        correlation_id = _uuid(headers.get("correlationId"))
        causation_id = _uuid(headers.get("causationId"))
        aggregate_id = (msg.key() or b"").decode()
    except (ValueError, UnicodeDecodeError) as err:
        raise PoisonMessage(f"malformed headers or key: {err}") from err
    payload = msg.value() or b""
    topic = msg.topic()
    return InboundEvent(
        event_id=event_id,
        event_type=envelope.event_type,
        aggregate_type=aggregate_of_topic(topic),
        aggregate_id=aggregate_id,
        sequence=envelope.sequence,
        correlation_id=correlation_id,
        causation_id=causation_id,
        payload=payload,
        topic=topic,
        partition=msg.partition(),
        offset=msg.offset(),
        record=_record(payload, envelope.event_type) if decode else {},
    )


def _record(payload: bytes, event_type: str) -> dict[str, Any]:
    from orders_site.eventstore import avro

    try:
        return avro.decode(payload, expected_event_type=event_type).record
    except avro.SchemaError as err:
        raise PoisonMessage(str(err)) from err


def decoded(event: InboundEvent) -> InboundEvent:
    """The event with its Avro payload decoded; PoisonMessage if it cannot be (unknown schema...)."""
    return replace(event, record=_record(event.payload, event.event_type))


def cause_of(event: InboundEvent) -> Cause:
    """The event as the cause of what a handler writes: the saga's correlation id carried on."""
    return Cause(event_id=event.event_id, event_type=event.event_type,
                 correlation_id=event.correlation_id or event.event_id)


def order_of(event: InboundEvent) -> uuid.UUID:
    """The order a (decoded) saga event is about."""
    order_id = event.record.get("order_id")
    if isinstance(order_id, uuid.UUID):  # how fastavro reads a uuid field
        return order_id
    try:
        return uuid.UUID(str(order_id))  # a missing one is None here, and "None" no uuid
    except ValueError as err:
        raise PoisonMessage(f"{event.event_type} without a valid order_id") from err
