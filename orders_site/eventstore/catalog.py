"""Render the human-readable topic catalog (docs/topic-catalog.md) from `schemas/` and the connector.

Pure and deterministic (no Django, no clock): the same inputs always give the same bytes, so a test
and `manage.py topic_catalog --check` can tell a stale catalog from a current one. Headers are read
from `connect/outbox-connector.json`, so the catalog lists what the relay really sends.
"""
from __future__ import annotations

import json
from itertools import groupby
from pathlib import Path
from typing import Any

from . import avro

ROOT = avro.SCHEMA_DIR.parent
CATALOG_PATH = ROOT / "docs" / "topic-catalog.md"
CONNECTOR_PATH = ROOT / "connect" / "outbox-connector.json"

# Every header a consumer may meet, with its meaning; render_catalog() shows the ones the connector
# places and says where the others' information lives instead.
HEADER_MEANINGS = {
    "id": "event id (UUID, the event store's `event_id`): the deduplication key; redeliveries repeat it",
    "eventType": "event type = the Avro record name; consumers skip types they do not handle without decoding",
    "aggregateType": "aggregate type (`order`, `stock`, ...), the same as the middle part of the topic name",
    "sequence": ("the aggregate's event number in the store, from 1, gapless there; on a topic it ascends and "
                 "skips unpublished events (schemas/README.md), a repeat is a redelivery"),
    "schemaFingerprint": "CRC-64-AVRO of the writer schema, 16 hex chars, the same as bytes 2-9 of the value",
    "correlationId": "UUID shared by every event of one order's saga (the checkout that started it)",
    "causationId": "id of the event this one reacts to; null for events caused by a user or staff action",
    "occurredAt": "when the event was recorded, UTC (as Debezium renders a timestamptz: ISO-8601 text)",
}
WHERE_ELSE = {
    "aggregateType": "the middle part of the topic name `shop.<aggregate>.events`",
    "schemaFingerprint": "bytes 2-9 of the value, little-endian; the event store's `schema_fingerprint` column",
}


def emitted_headers(connector: dict[str, Any]) -> list[str]:
    """Header names the outbox EventRouter puts on every record, in placement order.

    Raises ValueError when the connector places a header this module has no meaning for, so a new
    header cannot reach the public topics undocumented.
    """
    config = connector["config"]
    headers = ["id"]  # EventRouter always sets the `id` header from table.field.event.id
    for placement in filter(None, config.get("transforms.outbox.table.fields.additional.placement", "").split(",")):
        column, where, *alias = placement.strip().split(":")
        if where == "header":
            headers.append(alias[0] if alias else column)
    unknown = [h for h in headers if h not in HEADER_MEANINGS]
    if unknown:
        raise ValueError(f"{CONNECTOR_PATH.name} places undocumented headers {unknown}: add them to HEADER_MEANINGS")
    return headers


def _type_name(t: Any) -> str:
    if isinstance(t, list):
        return " \\| ".join(_type_name(x) for x in t)  # escaped: a bare | would split the table cell
    if isinstance(t, dict):
        if "logicalType" in t:
            return f"{t['type']} ({t['logicalType']})"
        if t["type"] == "array":
            return f"array<{_type_name(t['items'])}>"
        if t["type"] in ("record", "enum", "fixed"):
            return t["name"]
        if t["type"] == "map":
            return f"map<{_type_name(t['values'])}>"
        return _type_name(t["type"])
    return str(t)


def _field_rows(fields: list[dict[str, Any]], prefix: str) -> list[str]:
    # Nested records are flattened into dotted rows (`items[].sku`) so their docs are shown too.
    rows = []
    for field in fields:
        name, ftype = f"{prefix}{field['name']}", field["type"]
        notes = [field.get("doc", "")]
        items = ftype.get("items") if isinstance(ftype, dict) and ftype["type"] == "array" else None
        if isinstance(items, dict) and items["type"] == "record" and items.get("doc"):
            notes.append(f"(each {items['name']}: {items['doc']})")
        if isinstance(ftype, dict) and ftype["type"] == "enum":
            notes.append(f"(symbols {', '.join(ftype['symbols'])}; unknown symbols read as "
                         f"`{ftype.get('default', 'an error: no default')}`)")
        if "default" in field:
            notes.append(f"(default `{json.dumps(field['default'])}`)")
        rows.append(f"| `{name}` | `{_type_name(ftype)}` | {' '.join(n for n in notes if n)} |")
        if isinstance(items, dict) and items["type"] == "record":
            rows += _field_rows(items["fields"], f"{name}[].")
        elif isinstance(ftype, dict) and ftype["type"] == "record":
            rows += _field_rows(ftype["fields"], f"{name}.")
    return rows


def render_catalog(connector: dict[str, Any] | None = None) -> str:
    """The catalog as Markdown. Reads `schemas/` and, unless given, the connector file.

    Raises avro.SchemaError for an inconsistent `schemas/` tree, ValueError for an undocumented header.
    """
    connector = connector if connector is not None else json.loads(CONNECTOR_PATH.read_text())
    headers = emitted_headers(connector)
    lines = ["# Topic catalog", "",
             "Generated from `schemas/` and `connect/outbox-connector.json` by `python manage.py topic_catalog`; "
             "do not edit by hand. Evolution rules: [`schemas/README.md`](../schemas/README.md).", "",
             "## Every topic", "",
             "- **Key**: the order id (UUID as UTF-8 text, the event store's `aggregate_id`). Every event of "
             "the order saga is keyed by its order, so one order's events stay in one partition, in order.",
             "- **Value**: Avro single-object encoding, byte for byte as stored: `C3 01`, the 8-byte "
             "CRC-64-AVRO fingerprint (little-endian) of the writer schema's Parsing Canonical Form, then the "
             "Avro binary body. Look the fingerprint up among the versions below (no schema registry) and read "
             "with the newest version you know; an unknown fingerprint means a newer producer.",
             "- **Headers** (UTF-8 text):", "", "| header | meaning |", "|---|---|"]
    lines += [f"| `{name}` | {HEADER_MEANINGS[name]} |" for name in headers]
    missing = [name for name in HEADER_MEANINGS if name not in headers]
    if missing:
        lines += ["", "Not sent as headers: " + "; ".join(
            f"`{name}` ({WHERE_ELSE.get(name, 'not available')})" for name in missing) + "."]
    lines.append("")
    versions = sorted((v for t in avro.event_types() for v in avro.versions_of(t)),
                      key=lambda v: (v.aggregate, v.event_type, v.version))
    for aggregate, of_aggregate in groupby(versions, key=lambda v: v.aggregate):
        lines += [f"## `shop.{aggregate}.events`", "", f"Events of aggregate `{aggregate}` "
                  f"(schemas in `schemas/{aggregate}/`, namespace `shop.events.{aggregate}`).", ""]
        for event_type, of_type in groupby(of_aggregate, key=lambda v: v.event_type):
            history = list(of_type)
            newest = history[-1]
            lines += [f"### {event_type}", "", newest.raw.get("doc", ""), "",
                      "Versions (fingerprint): " + ", ".join(f"v{v.version} (`{v.fingerprint_hex}`)" for v in history)
                      + f"; producers write v{newest.version}. Fields of v{newest.version}:", "",
                      "| field | type | meaning |", "|---|---|---|"]
            lines += _field_rows(newest.raw["fields"], "") + [""]
    return "\n".join(lines).rstrip() + "\n"


def write_catalog(path: Path = CATALOG_PATH) -> None:
    """Write render_catalog() to `path` (docs/topic-catalog.md by default)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_catalog())
