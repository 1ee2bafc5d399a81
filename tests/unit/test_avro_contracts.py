"""The Avro contracts in schemas/ and the single-object codec (pure: no database, no network)."""
from __future__ import annotations

import copy
import io
import uuid
from datetime import datetime, timezone

import fastavro
import pytest

from orders_site.eventstore import avro
from orders_site.eventstore.catalog import CATALOG_PATH, render_catalog

NOW = datetime(2026, 11, 25, 10, 30, tzinfo=timezone.utc)
OID = str(uuid.uuid4())
LINES = [{"sku": "KB-001", "quantity": 2}]
SAMPLES: dict[str, dict] = {
    "OrderCreated": {"order_id": OID, "order_number": "ORD-1", "customer_id": "7", "items": [
        {"sku": "KB-001", "product_name": "Keyboard", "quantity": 2, "unit_price_minor": 8900}],
        "total_minor": 17800, "currency": "USD", "payment_method": "card", "shipping_note": "ring twice",
        "created_at": NOW},
    "OrderStatusChanged": {"order_id": OID, "from_status": "ORDERED", "to_status": "STOCK_HELD", "reason": None,
                           "cause_event_id": str(uuid.uuid4()), "cause_event_type": "StockHeld"},
    "StockHeld": {"order_id": OID, "lines": LINES},
    "StockRejected": {"order_id": OID, "reason": "out of stock", "lines": LINES,
                      "unavailable": [{"sku": "KB-001", "requested": 2, "available": 1}]},
    "StockReleased": {"order_id": OID, "reason": "payment failed", "lines": LINES},
    "StockSold": {"order_id": OID, "lines": LINES},
    "PaymentCompleted": {"order_id": OID, "payment_id": str(uuid.uuid4()), "attempt": 1,
                         "gateway_transaction_id": "tx-1", "method": "card", "amount_minor": 17800, "currency": "USD"},
    "PaymentFailed": {"order_id": OID, "payment_id": str(uuid.uuid4()), "attempt": 1, "reason": "declined",
                      "decline_code": "insufficient_funds"},
    "PaymentRefunded": {"order_id": OID, "payment_id": str(uuid.uuid4()), "gateway_transaction_id": "tx-1",
                        "amount_minor": 17800, "currency": "USD", "reason": "order cancelled"},
    "DeliveryPrepared": {"order_id": OID, "delivery_id": str(uuid.uuid4()), "status": "PREPARING"},
    "NotificationSent": {"order_id": OID, "notification_id": str(uuid.uuid4()), "kind": "ORDER_CONFIRMED",
                         "channel": "console", "recipient": "demo@example.com"},
}


def reference_crc64(data: bytes) -> int:
    """CRC-64-AVRO written bit by bit from the specification's definition (no lookup table)."""
    poly, fp = 0xC15D213AA4D7A795, 0xC15D213AA4D7A795
    for byte in data:
        fp ^= byte
        for _ in range(8):
            fp = (fp >> 1) ^ (poly if fp & 1 else 0)
    return fp


def _plain(value):
    """Decoded values compare to the inputs once UUIDs are strings again."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, uuid.UUID) else value


def test_every_event_type_has_a_sample() -> None:
    assert set(SAMPLES) == set(avro.event_types())


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_round_trip(event_type: str) -> None:
    encoded = avro.encode(event_type, SAMPLES[event_type])
    decoded = avro.decode(encoded.payload, expected_event_type=event_type)
    assert decoded.event_type == event_type
    assert _plain(decoded.record) == SAMPLES[event_type]


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_payload_is_single_object_encoding_with_the_spec_fingerprint(event_type: str) -> None:
    schema = avro.latest(event_type)
    payload = avro.encode(event_type, SAMPLES[event_type]).payload
    canonical = fastavro.schema.to_parsing_canonical_form(schema.raw).encode()
    assert payload[:2] == b"\xc3\x01"
    assert int.from_bytes(payload[2:10], "little") == reference_crc64(canonical)
    assert payload[2:10].hex() == schema.fingerprint_hex


def test_the_spec_test_vector() -> None:
    # The fingerprint of the schema "null" is a published value (Avro spec, test vectors).
    assert avro.fingerprint64(b'"null"') == reference_crc64(b'"null"') == 0x63DD24E7CC258F8A


def test_a_v1_payload_reads_as_the_current_version() -> None:
    # given OrderCreated written by a producer still on v1
    v1 = avro.versions_of("OrderCreated")[0]
    record = {k: v for k, v in SAMPLES["OrderCreated"].items() if k != "shipping_note"}
    body = io.BytesIO()
    fastavro.schemaless_writer(body, v1.parsed, record)
    payload = b"\xc3\x01" + v1.fingerprint.to_bytes(8, "little") + body.getvalue()
    # when a current consumer decodes it, then the added field takes its default
    decoded = avro.decode(payload)
    assert (decoded.version, decoded.record["shipping_note"]) == (1, None)
    assert decoded.record["total_minor"] == 17800


@pytest.mark.parametrize("event_type", avro.event_types())
def test_every_version_is_readable_by_its_successor(event_type: str) -> None:
    versions = avro.versions_of(event_type)
    for older, newer in zip(versions, versions[1:]):
        assert avro.check_backward_compatible(older.raw, newer.raw) == [], f"{newer.path.name} breaks {older.path.name}"


def test_the_compatibility_check_catches_a_field_without_default() -> None:
    current = avro.latest("StockHeld").raw
    broken = copy.deepcopy(current)
    broken["fields"].append({"name": "warehouse", "type": "string"})
    assert any("warehouse" in p for p in avro.check_backward_compatible(current, broken))


def test_the_compatibility_check_catches_an_incompatible_type_change() -> None:
    current = avro.latest("PaymentCompleted").raw
    broken = copy.deepcopy(current)
    next(f for f in broken["fields"] if f["name"] == "amount_minor")["type"] = "int"  # long -> int narrows
    assert avro.check_backward_compatible(current, broken)


def test_unknown_fingerprint_is_reported_as_unknown_schema() -> None:
    payload = avro.encode("StockHeld", SAMPLES["StockHeld"]).payload
    with pytest.raises(avro.UnknownSchema):
        avro.decode(payload[:2] + bytes(8) + payload[10:])


@pytest.mark.parametrize("payload", [b"", b"{\"json\": true}", b"\xc3\x02" + bytes(20)])
def test_not_single_object_encoding_is_malformed(payload: bytes) -> None:
    with pytest.raises(avro.MalformedPayload):
        avro.decode(payload)


def test_truncated_body_is_malformed() -> None:
    payload = avro.encode("OrderCreated", SAMPLES["OrderCreated"]).payload
    with pytest.raises(avro.MalformedPayload):
        avro.decode(payload[:-5])


def test_wrong_event_type_header_is_refused() -> None:
    payload = avro.encode("StockHeld", SAMPLES["StockHeld"]).payload
    with pytest.raises(avro.SchemaError):
        avro.decode(payload, expected_event_type="StockSold")


@pytest.mark.parametrize(("event_type", "record"), [
    ("NoSuchEvent", {}),
    ("StockHeld", {"order_id": OID}),  # missing field
    ("StockHeld", {"order_id": OID, "lines": [{"sku": "A", "quantity": "two"}]}),  # wrong type
])
def test_unencodable_records_raise_schema_error(event_type: str, record: dict) -> None:
    with pytest.raises(avro.SchemaError):
        avro.encode(event_type, record)


def test_topic_catalog_is_in_sync_with_the_schemas() -> None:
    assert CATALOG_PATH.read_text() == render_catalog(), "run `python manage.py topic_catalog`"
    for event_type in avro.event_types():
        assert f"### {event_type}" in CATALOG_PATH.read_text()
        assert f"`shop.{avro.aggregate_of(event_type)}.events`" in CATALOG_PATH.read_text()
