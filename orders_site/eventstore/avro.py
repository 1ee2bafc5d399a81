"""Avro event contracts: the schemas in `schemas/`, and the single-object encoding of payloads.

A payload is `C3 01` + the writer schema's CRC-64-AVRO fingerprint (8 bytes, little-endian) + the Avro
binary body, as the Avro specification defines "single-object encoding". A reader finds the writer's
schema from the fingerprint alone (every released version is in the repo, so no registry is needed)
and reads the body with the newest version of that event type, Avro schema resolution filling in
fields added since.

Layout: `schemas/<aggregate>/<EventType>.v<N>.avsc`; the namespace is `shop.events.<aggregate>` and the
topic `shop.<aggregate>.events`. Released files are never edited; a change is a new version.
"""
from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import to_parsing_canonical_form
from fastavro.validation import ValidationError, validate

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
MARKER = b"\xc3\x01"
_FILE = re.compile(r"^(?P<name>[A-Z][A-Za-z0-9]*)\.v(?P<version>\d+)\.avsc$")
_EMPTY = 0xC15D213AA4D7A795  # CRC-64-AVRO seed, from the Avro specification


class SchemaError(ValueError):
    """An event cannot be encoded or decoded against the contracts (base of the errors below)."""


class UnknownSchema(SchemaError):
    """The payload's fingerprint matches no schema in `schemas/` (a newer producer? a foreign topic?)."""


class MalformedPayload(SchemaError):
    """The bytes are not a single-object-encoded Avro payload, or the body is truncated/corrupt."""


@dataclass(frozen=True)
class SchemaVersion:
    event_type: str
    aggregate: str
    version: int
    fingerprint: int
    path: Path
    raw: dict[str, Any]
    parsed: Any

    @property
    def fingerprint_hex(self) -> str:
        """The 8 fingerprint bytes as they appear in the payload (little-endian), in hex: what
        fastavro and Java's SchemaNormalization.parsingFingerprint("CRC-64-AVRO") print."""
        return self.fingerprint.to_bytes(8, "little").hex()


@dataclass(frozen=True)
class EncodedPayload:
    payload: bytes
    fingerprint: str
    version: int


@dataclass(frozen=True)
class DecodedEvent:
    event_type: str
    version: int
    record: dict[str, Any]


def _crc64_table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY & -(fp & 1))
        table.append(fp)
    return table


_TABLE = _crc64_table()


def fingerprint64(data: bytes) -> int:
    """CRC-64-AVRO ("Rabin") fingerprint, exactly as the Avro specification's reference code."""
    fp = _EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


def schema_fingerprint(raw: dict[str, Any]) -> int:
    """Fingerprint of a schema's Parsing Canonical Form (docs and defaults do not change it)."""
    return fingerprint64(to_parsing_canonical_form(raw).encode())


@lru_cache(maxsize=1)
def _registry() -> tuple[dict[str, list[SchemaVersion]], dict[int, SchemaVersion]]:
    by_type: dict[str, list[SchemaVersion]] = {}
    by_fp: dict[int, SchemaVersion] = {}
    for path in sorted(SCHEMA_DIR.glob("*/*.avsc")):
        match = _FILE.match(path.name)
        if not match:
            raise SchemaError(f"{path}: schema files are named <EventType>.v<N>.avsc")
        raw = json.loads(path.read_text())
        aggregate = path.parent.name
        if raw.get("name") != match["name"] or raw.get("namespace") != f"shop.events.{aggregate}":
            raise SchemaError(f"{path}: record name/namespace must be {match['name']} / shop.events.{aggregate}")
        version = SchemaVersion(match["name"], aggregate, int(match["version"]), schema_fingerprint(raw), path,
                                raw, fastavro.parse_schema(raw))
        if version.fingerprint in by_fp:
            raise SchemaError(f"{path} has the same canonical form as {by_fp[version.fingerprint].path}")
        by_fp[version.fingerprint] = version
        by_type.setdefault(version.event_type, []).append(version)
    for versions in by_type.values():
        versions.sort(key=lambda v: v.version)
    return by_type, by_fp


def event_types() -> list[str]:
    return sorted(_registry()[0])


def versions_of(event_type: str) -> list[SchemaVersion]:
    try:
        return list(_registry()[0][event_type])
    except KeyError:
        raise SchemaError(f"unknown event type {event_type!r}; schemas live in {SCHEMA_DIR}") from None


def latest(event_type: str) -> SchemaVersion:
    return versions_of(event_type)[-1]


def aggregate_of(event_type: str) -> str:
    return latest(event_type).aggregate


def topic_of(event_type: str) -> str:
    return f"shop.{aggregate_of(event_type)}.events"


def encode(event_type: str, record: dict[str, Any]) -> EncodedPayload:
    """Encode with the newest schema of `event_type`. Raises SchemaError if the record does not fit."""
    schema = latest(event_type)
    try:
        validate(record, schema.parsed, raise_errors=True)
        body = io.BytesIO()
        fastavro.schemaless_writer(body, schema.parsed, record)
    except (ValidationError, ValueError, TypeError, KeyError, AttributeError) as err:
        raise SchemaError(f"{event_type} record does not match {schema.path.name}: {err}") from err
    return EncodedPayload(MARKER + schema.fingerprint.to_bytes(8, "little") + body.getvalue(),
                          schema.fingerprint_hex, schema.version)


def decode(payload: bytes, expected_event_type: str | None = None) -> DecodedEvent:
    """Decode a single-object payload, resolving it to the newest schema of its event type.

    Raises MalformedPayload (bad marker, truncated or corrupt body), UnknownSchema (fingerprint not in
    `schemas/`), or SchemaError when it is a different event type than `expected_event_type`.
    """
    if len(payload) < 10 or payload[:2] != MARKER:
        raise MalformedPayload("not Avro single-object encoding (missing C3 01 marker)")
    fp = int.from_bytes(payload[2:10], "little")
    writer = _registry()[1].get(fp)
    if writer is None:
        raise UnknownSchema(f"no schema in {SCHEMA_DIR} has fingerprint {payload[2:10].hex()}")
    if expected_event_type is not None and writer.event_type != expected_event_type:
        raise SchemaError(f"payload is {writer.event_type}, header says {expected_event_type}")
    reader = latest(writer.event_type)
    body = io.BytesIO(payload[10:])
    try:
        record = fastavro.schemaless_reader(body, writer.parsed, reader.parsed)
    except (EOFError, ValueError, IndexError, UnicodeDecodeError, StopIteration) as err:
        raise MalformedPayload(f"corrupt {writer.event_type} body: {err!r}") from err
    if body.tell() != len(payload) - 10:
        raise MalformedPayload(f"{len(payload) - 10 - body.tell()} trailing bytes after the {writer.event_type} body")
    return DecodedEvent(writer.event_type, writer.version, record)


def check_backward_compatible(writer: dict[str, Any], reader: dict[str, Any], samples: int = 25) -> list[str]:
    """Problems that stop `reader` from reading data written with `writer` (empty list: compatible).

    Two checks: every reader field missing from the writer must have a default (structural), and
    generated writer data must resolve into the reader schema (catches incompatible type changes).
    """
    problems = []
    writer_fields = {f["name"] for f in writer.get("fields", [])}
    for field in reader.get("fields", []):
        if field["name"] not in writer_fields and "default" not in field:
            problems.append(f"field {field['name']!r} is new and has no default")
    from fastavro.utils import generate_many

    parsed_writer, parsed_reader = fastavro.parse_schema(writer), fastavro.parse_schema(reader)
    for datum in generate_many(parsed_writer, samples):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed_writer, datum)
        buf.seek(0)
        try:
            fastavro.schemaless_reader(buf, parsed_writer, parsed_reader)
        except Exception as err:  # noqa: BLE001 - fastavro raises several types for resolution errors
            problems.append(f"data written with the old schema cannot be read: {err}")
            break
    return problems
