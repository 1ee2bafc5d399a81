"""Stored events made readable: decoded Avro payloads as JSON-safe dicts, for admin and API."""
from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from . import avro
from .models import StoredEvent


def jsonable(value: Any) -> Any:
    """Convert Avro-decoded values (datetimes, UUIDs, bytes, decimals) into JSON types."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, Decimal)):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def decoded_payload(event: StoredEvent) -> dict[str, Any]:
    """The event's payload as a dict; an undecodable payload is reported, not raised."""
    try:
        return jsonable(avro.decode(bytes(event.payload), expected_event_type=event.event_type).record)
    except avro.SchemaError as err:
        return {"_undecodable": str(err)}


def describe(event: StoredEvent) -> dict[str, Any]:
    """Envelope + decoded data of one event, as shown in the API's history and the admin timeline."""
    return {
        "event_id": str(event.event_id),
        "aggregate_type": event.aggregate_type,
        "sequence": event.sequence,
        "event_type": event.event_type,
        "occurred_at": event.occurred_at.isoformat(),
        "correlation_id": str(event.correlation_id),
        "causation_id": str(event.causation_id) if event.causation_id else None,
        "schema_fingerprint": event.schema_fingerprint,
        "data": decoded_payload(event),
    }
