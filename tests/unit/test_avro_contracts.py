"""The Avro contracts in schemas/ and the single-object codec (pure: no database, no network)."""
from __future__ import annotations

import copy
import io
import json
import random
import re
import uuid
from datetime import datetime, timezone
from typing import Any

import fastavro
import pytest

from orders_site.eventstore import avro
from orders_site.eventstore.catalog import CATALOG_PATH, CONNECTOR_PATH, emitted_headers, render_catalog

NOW = datetime(2026, 11, 25, 10, 30, 15, 123456, tzinfo=timezone.utc)
OID = str(uuid.uuid4())
LINES = [{"sku": "KB-001", "quantity": 2}, {"sku": "MS-002", "quantity": 1}]
SAMPLES: dict[str, dict[str, Any]] = {
    "OrderCreated": {"order_id": OID, "order_number": "ORD-2026-000042", "customer_id": "7", "items": [
        {"sku": "KB-001", "product_name": "Keyboard", "quantity": 2, "unit_price_minor": 8900},
        {"sku": "MS-002", "product_name": "Mouse", "quantity": 1, "unit_price_minor": 2500}],
        "total_minor": 20300, "currency": "EUR", "payment_method": "card", "shipping_note": "ring twice",
        "created_at": NOW},
    "OrderStatusChanged": {"order_id": OID, "from_status": "ORDERED", "to_status": "STOCK_HELD", "reason": None,
                           "cause_event_id": str(uuid.uuid4()), "cause_event_type": "StockHeld"},
    "StockHeld": {"order_id": OID, "lines": LINES},
    "StockRejected": {"order_id": OID, "reason": "out of stock", "lines": LINES,
                      "unavailable": [{"sku": "KB-001", "requested": 2, "available": 1}]},
    "StockReleased": {"order_id": OID, "reason": "payment failed", "lines": LINES},
    "StockSold": {"order_id": OID, "lines": LINES},
    "PaymentCompleted": {"order_id": OID, "payment_id": str(uuid.uuid4()), "attempt": 1,
                         "gateway_transaction_id": "tx_8f3a", "method": "card", "amount_minor": 20300,
                         "currency": "EUR"},
    "PaymentFailed": {"order_id": OID, "payment_id": str(uuid.uuid4()), "attempt": 2, "reason": "card declined",
                      "decline_code": "insufficient_funds"},
    "PaymentRefunded": {"order_id": OID, "payment_id": str(uuid.uuid4()), "gateway_transaction_id": "tx_8f3a",
                        "amount_minor": 20300, "currency": "EUR", "reason": "order cancelled"},
    "DeliveryPrepared": {"order_id": OID, "delivery_id": str(uuid.uuid4()), "status": "PREPARING"},
    "DeliveryShipped": {"order_id": OID, "delivery_id": str(uuid.uuid4()), "carrier": "DHL",
                        "tracking_number": "JD0146000012345", "recorded_by": "operator"},
    "DeliveryDelivered": {"order_id": OID, "delivery_id": str(uuid.uuid4()), "recorded_by": "operator"},
    "NotificationResent": {"order_id": OID, "notification_id": str(uuid.uuid4()), "kind": "ORDER_SHIPPED",
                           "channel": "file", "recipient": "demo@example.com", "requested_by": "operator"},
    "StockReceived": {"sku": "KB-001", "quantity": 20, "on_hand": 45, "recorded_by": "operator"},
    "NotificationSent": {"order_id": OID, "notification_id": str(uuid.uuid4()), "kind": "ORDER_CONFIRMED",
                         "channel": "file", "recipient": "demo@example.com"},
}
TOPICS = {"OrderCreated": "shop.order.events", "OrderStatusChanged": "shop.order.events",
          "StockHeld": "shop.stock.events", "StockRejected": "shop.stock.events", "StockReleased": "shop.stock.events",
          "StockSold": "shop.stock.events", "PaymentCompleted": "shop.payment.events",
          "PaymentFailed": "shop.payment.events", "PaymentRefunded": "shop.payment.events",
          "DeliveryPrepared": "shop.delivery.events", "DeliveryShipped": "shop.delivery.events",
          "DeliveryDelivered": "shop.delivery.events", "StockReceived": "shop.product.events",
          "NotificationResent": "shop.notification.events",
          "NotificationSent": "shop.notification.events"}
# Fingerprints of released versions. A released schema never changes on the wire, so these never
# change; a new version adds a line here (see schemas/README.md).
RELEASED = {
    ("DeliveryPrepared", 1): "4c4155168cc89a71", ("NotificationSent", 1): "f6a8452fbb6b1af5",
    ("OrderCreated", 1): "d90ef466c26e2145", ("OrderCreated", 2): "b29f919d07eab536",
    ("OrderStatusChanged", 1): "039d41c1b0918764", ("PaymentCompleted", 1): "5ebb6fa129683b5b",
    ("PaymentFailed", 1): "82d21017a7871677", ("PaymentRefunded", 1): "a71d17412475fea0",
    ("StockHeld", 1): "c609cf245c17e926", ("StockRejected", 1): "644a4a36eef6097d",
    ("StockReleased", 1): "980356cd01bb3c91", ("StockSold", 1): "2ffa1c295eb66b5e",
    ("DeliveryShipped", 1): "4268bff4f6d35904", ("DeliveryDelivered", 1): "8caa5afd9f63643c",
    ("StockReceived", 1): "759be17ba70d1cda", ("NotificationResent", 1): "66d154285a4915fb",
}
ALL_VERSIONS = [v for t in avro.event_types() for v in avro.versions_of(t)]


def reference_crc64(data: bytes) -> int:
    """CRC-64-AVRO written bit by bit from the specification's definition (no table, no fastavro)."""
    poly = fp = 0xC15D213AA4D7A795  # the spec's EMPTY: both the polynomial and the initial value
    for byte in data:
        fp ^= byte
        for _ in range(8):
            fp = (fp >> 1) ^ (poly if fp & 1 else 0)
    return fp


def _plain(value: Any) -> Any:
    """Decoded values compare to the inputs once UUIDs are strings again."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, uuid.UUID) else value


def _records(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The schema's record and every record nested in it."""
    found = [schema]
    for field in schema["fields"]:
        t = field["type"]
        t = t["items"] if isinstance(t, dict) and t["type"] == "array" else t
        if isinstance(t, dict) and t["type"] == "record":
            found += _records(t)
    return found


def test_every_event_type_has_a_sample_and_a_topic() -> None:
    assert set(SAMPLES) == set(TOPICS) == set(avro.event_types())
    assert {t: avro.topic_of(t) for t in TOPICS} == TOPICS


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_round_trip(event_type: str) -> None:
    encoded = avro.encode(event_type, SAMPLES[event_type])
    decoded = avro.decode(encoded.payload, expected_event_type=event_type)
    assert (decoded.event_type, decoded.version) == (event_type, avro.latest(event_type).version)
    assert encoded.version == avro.latest(event_type).version
    assert _plain(decoded.record) == SAMPLES[event_type]


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_payload_is_single_object_encoding_with_the_spec_fingerprint(event_type: str) -> None:
    schema = avro.latest(event_type)
    encoded = avro.encode(event_type, SAMPLES[event_type])
    canonical = fastavro.schema.to_parsing_canonical_form(schema.raw).encode()
    assert encoded.payload[:2] == b"\xc3\x01"
    assert int.from_bytes(encoded.payload[2:10], "little") == reference_crc64(canonical)
    assert encoded.fingerprint == encoded.payload[2:10].hex() == schema.fingerprint_hex
    assert len(encoded.fingerprint) == 16


@pytest.mark.parametrize(("schema", "signed"), [  # apache/avro share/test/data/schema-tests.txt
    ('"null"', 7195948357588979594), ('"boolean"', -6970731678124411036), ('"int"', 8247732601305521295),
    ('{"type":"record","name":"foo","fields":[{"name":"f1","type":"boolean"}]}', 7843277075252814651),
])
def test_fingerprints_match_the_avro_test_vectors(schema: str, signed: int) -> None:
    expected = signed & 0xFFFF_FFFF_FFFF_FFFF
    canonical = fastavro.schema.to_parsing_canonical_form(json.loads(schema))
    assert reference_crc64(canonical.encode()) == expected
    assert int.from_bytes(avro.schema_fingerprint(json.loads(schema)), "little") == expected


def test_released_schemas_are_unchanged_on_the_wire() -> None:
    assert {(v.event_type, v.version): v.fingerprint_hex for v in ALL_VERSIONS} == RELEASED


@pytest.mark.parametrize("version", ALL_VERSIONS, ids=lambda v: v.path.name)
def test_schemas_follow_the_conventions(version: avro.SchemaVersion) -> None:
    top_fields = {f["name"] for f in version.raw["fields"]}
    # Every event of the saga starts with its order id; catalog events (aggregate `product`) with the SKU.
    key = "sku" if version.path.parent.name == "product" else "order_id"
    assert version.raw["fields"][0]["name"] == key, f"every {version.path.parent.name} event starts with its {key}"
    if any(name.endswith("_minor") for r in _records(version.raw) for name in (f["name"] for f in r["fields"])):
        assert "currency" in top_fields, "amounts in minor units need the currency next to them"
    for record in _records(version.raw):
        assert record.get("doc"), f"record {record['name']} has no doc"
        for field in record["fields"]:
            name, ftype = field["name"], field["type"]
            assert field.get("doc"), f"{record['name']}.{name} has no doc"
            plain = [t for t in ftype if t != "null"][0] if isinstance(ftype, list) else ftype
            if name in ("order_id", "payment_id", "delivery_id", "notification_id", "cause_event_id"):
                assert plain == {"type": "string", "logicalType": "uuid"}, f"{name} must be a uuid"
            if name.endswith("_minor"):
                assert plain == "long", f"{name} must be a long in minor units"
            if name.endswith("_at"):
                assert plain == {"type": "long", "logicalType": "timestamp-micros"}, f"{name}: timestamp-micros"
            if isinstance(plain, dict) and plain["type"] == "enum":
                assert plain.get("default") in plain["symbols"], f"enum {name} needs a default symbol"


def test_a_v1_payload_reads_as_the_current_version() -> None:
    # given OrderCreated written by a producer still on v1
    v1 = avro.versions_of("OrderCreated")[0]
    record = {k: v for k, v in SAMPLES["OrderCreated"].items() if k != "shipping_note"}
    body = io.BytesIO()
    fastavro.schemaless_writer(body, v1.parsed, record)
    payload = b"\xc3\x01" + v1.fingerprint + body.getvalue()
    # when a current consumer decodes it
    decoded = avro.decode(payload, expected_event_type="OrderCreated")
    # then it has the v2 shape, the added field taking its default
    assert (decoded.version, decoded.record["shipping_note"]) == (1, None)
    assert _plain(decoded.record) == {**record, "shipping_note": None}


@pytest.mark.parametrize("event_type", avro.event_types())
def test_every_version_is_readable_by_its_successor(event_type: str) -> None:
    versions = avro.versions_of(event_type)
    for older, newer in zip(versions, versions[1:]):
        assert avro.check_backward_compatible(older.raw, newer.raw) == [], f"{newer.path.name} breaks {older.path.name}"


def test_at_least_one_real_evolution_is_checked() -> None:
    assert any(len(avro.versions_of(t)) > 1 for t in avro.event_types())


def _broken(event_type: str, change: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    current = avro.latest(event_type).raw
    successor = copy.deepcopy(current)
    change(successor)
    return current, successor


def test_the_compatibility_check_catches_a_new_field_without_default() -> None:
    current, broken = _broken("StockHeld", lambda s: s["fields"].append({"name": "warehouse", "type": "string"}))
    assert any("warehouse" in p for p in avro.check_backward_compatible(current, broken))


def test_the_compatibility_check_catches_a_nested_field_without_default() -> None:
    current, broken = _broken("StockHeld", lambda s: s["fields"][1]["type"]["items"]["fields"].append(
        {"name": "bin", "type": "string"}))
    assert any("lines[].bin" in p for p in avro.check_backward_compatible(current, broken))


def test_the_compatibility_check_catches_an_incompatible_type_change() -> None:
    def narrow(s: dict[str, Any]) -> None:
        next(f for f in s["fields"] if f["name"] == "amount_minor")["type"] = "int"  # long -> int narrows
    current, broken = _broken("PaymentCompleted", narrow)
    assert avro.check_backward_compatible(current, broken)


def test_the_compatibility_check_catches_an_enum_losing_a_symbol() -> None:
    old = {"type": "record", "name": "E", "fields": [{"name": "k", "type": {
        "type": "enum", "name": "K", "symbols": ["A", "B"]}}]}
    new = copy.deepcopy(old)
    new["fields"][0]["type"]["symbols"] = ["A"]
    assert any("lost symbols ['B']" in p for p in avro.check_backward_compatible(old, new, samples=50))
    new["fields"][0]["type"]["default"] = "A"  # with a default symbol, B reads as A
    assert avro.check_backward_compatible(old, new, samples=50) == []


def test_the_compatibility_check_accepts_a_promotion_and_an_optional_field() -> None:
    def evolve(s: dict[str, Any]) -> None:
        s["fields"][1]["type"]["items"]["fields"][1]["type"] = "long"  # int -> long is a promotion
        s["fields"].append({"name": "note", "type": ["null", "string"], "default": None, "doc": "optional"})
    current, evolved = _broken("StockHeld", evolve)
    assert avro.check_backward_compatible(current, evolved) == []


def test_unknown_fingerprint_is_reported_as_unknown_schema() -> None:
    payload = avro.encode("StockHeld", SAMPLES["StockHeld"]).payload
    with pytest.raises(avro.UnknownSchema):
        avro.decode(payload[:2] + bytes(8) + payload[10:])


@pytest.mark.parametrize("payload", [b"", b"\xc3\x01", b"{\"json\": true}", b"\xc3\x02" + bytes(20)])
def test_not_single_object_encoding_is_malformed(payload: bytes) -> None:
    with pytest.raises(avro.MalformedPayload):
        avro.decode(payload)


@pytest.mark.parametrize("cut", [1, 5, 20])
def test_truncated_body_is_malformed(cut: int) -> None:
    payload = avro.encode("OrderCreated", SAMPLES["OrderCreated"]).payload
    with pytest.raises(avro.MalformedPayload):
        avro.decode(payload[:-cut])


def test_trailing_bytes_are_malformed() -> None:
    payload = avro.encode("StockSold", SAMPLES["StockSold"]).payload
    with pytest.raises(avro.MalformedPayload):
        avro.decode(payload + b"\x00")


def test_corrupt_payloads_only_ever_raise_the_project_errors() -> None:
    # given valid payloads of every type, when random bytes of the body are changed, cut or inserted,
    # then decode either succeeds or raises SchemaError (never a bare fastavro/stdlib exception)
    rng = random.Random(20261125)
    payloads = [avro.encode(t, r).payload for t, r in SAMPLES.items()]
    for _ in range(3000):
        data = bytearray(rng.choice(payloads))
        pos = rng.randrange(10, len(data))
        match rng.randrange(3):
            case 0: data[pos] = rng.randrange(256)
            case 1: del data[pos:]
            case _: data.insert(pos, rng.randrange(256))
        try:
            avro.decode(bytes(data))
        except avro.SchemaError:
            pass


def test_a_timestamp_out_of_datetime_range_is_malformed_not_a_crash() -> None:
    # given a body whose created_at is a valid long but no datetime (year > 9999)
    v2 = avro.latest("OrderCreated")
    body = io.BytesIO()
    fastavro.schemaless_writer(body, v2.parsed, {**SAMPLES["OrderCreated"], "created_at": 2 ** 62})
    # then the codec reports it as its own error, and refuses to write such a record in the first place
    with pytest.raises(avro.MalformedPayload):
        avro.decode(b"\xc3\x01" + v2.fingerprint + body.getvalue())
    with pytest.raises(avro.SchemaError):
        avro.encode("OrderCreated", {**SAMPLES["OrderCreated"], "created_at": 2 ** 62})


def test_wrong_event_type_is_refused() -> None:
    payload = avro.encode("StockHeld", SAMPLES["StockHeld"]).payload
    with pytest.raises(avro.SchemaError):
        avro.decode(payload, expected_event_type="StockSold")


@pytest.mark.parametrize(("event_type", "record"), [
    ("NoSuchEvent", {}),
    ("StockHeld", {"order_id": OID}),  # missing field
    ("StockHeld", {"order_id": OID, "lines": [{"sku": "A", "quantity": "two"}]}),  # wrong type
    ("StockHeld", {"order_id": OID, "lines": [{"sku": "A", "quantity": 2 ** 31}]}),  # int overflow
    ("StockHeld", {"order_id": "not-a-uuid", "lines": []}),  # would be written but never readable
    ("StockHeld", {"order_id": OID, "lines": [], "warehouse": "B"}),  # not in the schema: silently lost
    ("StockHeld", {"order_id": OID, "lines": [{"sku": "A", "quantity": 1, "bin": "7"}]}),  # same, nested
    ("PaymentCompleted", {**SAMPLES["PaymentCompleted"], "amount_minor": 203.0}),  # money is never a float
])
def test_unencodable_records_raise_schema_error(event_type: str, record: dict[str, Any]) -> None:
    with pytest.raises(avro.SchemaError):
        avro.encode(event_type, record)


def test_unknown_event_type_raises_schema_error_everywhere() -> None:
    for call in (avro.topic_of, avro.aggregate_of, avro.latest, avro.versions_of):
        with pytest.raises(avro.SchemaError):
            call("NoSuchEvent")


def test_topic_catalog_is_in_sync_with_the_schemas() -> None:
    committed = CATALOG_PATH.read_text()
    assert committed == render_catalog(), "stale: run `python manage.py topic_catalog`"
    for event_type in avro.event_types():
        assert f"### {event_type}" in committed
        assert f"## `{avro.topic_of(event_type)}`" in committed
        for version in avro.versions_of(event_type):
            assert f"v{version.version} (`{version.fingerprint_hex}`)" in committed


def test_topic_catalog_tables_are_well_formed() -> None:
    # a bare | inside a cell (e.g. a union type) would silently shift the columns
    for table in re.findall(r"(?:^\|.*\|\n)+", render_catalog(), flags=re.MULTILINE):
        widths = {len(re.findall(r"(?<!\\)\|", row)) for row in table.splitlines()}
        assert len(widths) == 1, table


def test_topic_catalog_lists_the_headers_the_connector_sends() -> None:
    connector = json.loads(CONNECTOR_PATH.read_text())
    catalog = render_catalog(connector)
    for header in emitted_headers(connector):
        assert f"| `{header}` |" in catalog
    connector["config"]["transforms.outbox.table.fields.additional.placement"] += ",tenant:header:tenantId"
    with pytest.raises(ValueError, match="tenantId"):
        render_catalog(connector)


def test_keys_not_in_the_schema_are_named_by_their_path() -> None:
    record = {"order_id": OID, "warehouse": "B", "lines": [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 1,
                                                                                      "bin": "7"}]}
    with pytest.raises(avro.SchemaError, match=r"fields not in .*: warehouse, lines\[1\]\.bin$"):
        avro.encode("StockHeld", record)
