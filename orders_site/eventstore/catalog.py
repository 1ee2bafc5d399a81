"""Render the human-readable topic catalog (docs/topic-catalog.md) from `schemas/`. Deterministic."""
from __future__ import annotations

import json
from itertools import groupby
from pathlib import Path
from typing import Any

from . import avro

CATALOG_PATH = avro.SCHEMA_DIR.parent / "docs" / "topic-catalog.md"
HEADERS = [
    ("id", "event id (UUID): the deduplication key"),
    ("eventType", "event type = Avro record name"),
    ("sequence", "per-aggregate sequence number, from 1, gapless"),
    ("correlationId", "id shared by every event of one checkout's saga"),
    ("causationId", "id of the event that caused this one (empty for commands from users)"),
    ("occurredAt", "when the event was recorded (ISO-8601, UTC)"),
]


def _type_name(t: Any) -> str:
    if isinstance(t, list):
        return " | ".join(_type_name(x) for x in t)
    if isinstance(t, dict):
        if "logicalType" in t:
            return f"{t['type']} ({t['logicalType']})"
        if t["type"] == "array":
            return f"array<{_type_name(t['items'])}>"
        if t["type"] == "record":
            return "{" + ", ".join(f"{f['name']}: {_type_name(f['type'])}" for f in t["fields"]) + "}"
        return str(t["type"])
    return str(t)


def render_catalog() -> str:
    lines = ["# Topic catalog", "",
             "Generated from `schemas/` by `python manage.py topic_catalog`; do not edit by hand.", "",
             "Every topic: key = the order id (UTF-8 string), value = Avro single-object encoding "
             "(`C3 01` + the writer schema's 8-byte CRC-64-AVRO fingerprint + body; the aggregate is in the "
             "topic name), headers:", "", "| header | meaning |", "|---|---|"]
    lines += [f"| `{name}` | {meaning} |" for name, meaning in HEADERS]
    versions = sorted((v for t in avro.event_types() for v in avro.versions_of(t)),
                      key=lambda v: (v.aggregate, v.event_type, v.version))
    for aggregate, of_aggregate in groupby(versions, key=lambda v: v.aggregate):
        lines += ["", f"## `shop.{aggregate}.events`", ""]
        for event_type, of_type in groupby(of_aggregate, key=lambda v: v.event_type):
            history = list(of_type)
            newest = history[-1]
            lines += [f"### {event_type}", "", newest.raw.get("doc", ""), "",
                      "Versions: " + ", ".join(f"v{v.version} (`{v.fingerprint_hex}`)" for v in history), "",
                      "| field | type | meaning |", "|---|---|---|"]
            for field in newest.raw["fields"]:
                default = f" (default `{json.dumps(field['default'])}`)" if "default" in field else ""
                lines.append(f"| `{field['name']}` | {_type_name(field['type'])} | {field.get('doc', '')}{default} |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_catalog(path: Path = CATALOG_PATH) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_catalog())
