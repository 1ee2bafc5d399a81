"""Avro event contracts: the schemas in `schemas/`, and the single-object encoding of payloads.

A payload is `C3 01` + the writer schema's CRC-64-AVRO fingerprint (8 bytes, little-endian) + the Avro
binary body, as the Avro specification defines "single-object encoding". A reader finds the writer's
schema from the fingerprint alone (every released version is in the repo, so no registry is needed)
and reads the body with the newest version of that event type, Avro schema resolution filling in
fields added since.

Layout: `schemas/<aggregate>/<EventType>.v<N>.avsc`; the namespace is `shop.events.<aggregate>` and the
topic `shop.<aggregate>.events`. Released files are never edited; a change is a new version.
Pure: no Django, no database, no network.
"""
from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form
from fastavro.utils import generate_many
from fastavro.validation import ValidationError, validate

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
MARKER = b"\xc3\x01"
_HEADER_LEN = len(MARKER) + 8
_FILE = re.compile(r"^(?P<name>[A-Z][A-Za-z0-9]*)\.v(?P<version>[1-9]\d*)\.avsc$")


class SchemaError(ValueError):
    """An event cannot be encoded or decoded against the contracts (base of the errors below)."""


class UnknownSchema(SchemaError):
    """The payload's fingerprint matches no schema in `schemas/` (a newer producer? a foreign topic?)."""


class MalformedPayload(SchemaError):
    """The bytes are not a single-object-encoded Avro payload, or the body is truncated/corrupt."""


@dataclass(frozen=True)
class SchemaVersion:
    """One `.avsc` file: a released (or about to be released) version of an event type."""

    event_type: str
    aggregate: str
    version: int
    fingerprint: bytes  # the 8 bytes exactly as they follow C3 01 in a payload (little-endian)
    path: Path
    raw: dict[str, Any]
    parsed: Any

    @property
    def fingerprint_hex(self) -> str:
        """The payload's 8 fingerprint bytes in hex, as stored in event_store.schema_fingerprint."""
        return self.fingerprint.hex()


@dataclass(frozen=True)
class EncodedPayload:
    payload: bytes
    fingerprint: str  # 16 hex chars, == SchemaVersion.fingerprint_hex of the writer schema
    version: int


@dataclass(frozen=True)
class DecodedEvent:
    event_type: str
    version: int  # the WRITER's version; `record` always has the newest version's shape
    record: dict[str, Any]


def schema_fingerprint(raw: dict[str, Any]) -> bytes:
    """CRC-64-AVRO of the schema's Parsing Canonical Form, as the 8 little-endian payload bytes.

    Docs, defaults and aliases are not part of the canonical form, so they do not change it.
    """
    # fastavro returns the hex of the little-endian bytes, i.e. the spec's single-object byte order
    # (the unit tests cross-check this against an independent implementation and the spec's vectors).
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(raw), "CRC-64-AVRO"))


def _load(path: Path) -> SchemaVersion:
    match = _FILE.match(path.name)
    if not match:
        raise SchemaError(f"{path}: schema files are named <EventType>.v<N>.avsc")
    raw = json.loads(path.read_text())
    aggregate = path.parent.name
    if raw.get("type") != "record" or raw.get("name") != match["name"] \
            or raw.get("namespace") != f"shop.events.{aggregate}":
        raise SchemaError(f"{path}: must be a record named {match['name']} in namespace shop.events.{aggregate}")
    try:
        parsed = fastavro.parse_schema(raw)
    except Exception as err:  # fastavro raises SchemaParseException, ValueError, KeyError... for bad files
        raise SchemaError(f"{path}: not a valid Avro schema: {err}") from err
    return SchemaVersion(match["name"], aggregate, int(match["version"]), schema_fingerprint(raw), path, raw, parsed)


@lru_cache(maxsize=1)
def _registry() -> tuple[dict[str, list[SchemaVersion]], dict[bytes, SchemaVersion]]:
    """All schemas, loaded once per process. Raises SchemaError on an inconsistent `schemas/` tree."""
    by_type: dict[str, list[SchemaVersion]] = {}
    by_fp: dict[bytes, SchemaVersion] = {}
    for path in sorted(SCHEMA_DIR.glob("*/*.avsc")):
        version = _load(path)
        if version.fingerprint in by_fp:  # two versions identical on the wire: decoding would be ambiguous
            raise SchemaError(f"{path} has the same canonical form as {by_fp[version.fingerprint].path}")
        by_fp[version.fingerprint] = version
        by_type.setdefault(version.event_type, []).append(version)
    for event_type, versions in by_type.items():
        versions.sort(key=lambda v: v.version)
        if [v.version for v in versions] != list(range(1, len(versions) + 1)) \
                or len({v.aggregate for v in versions}) != 1:
            raise SchemaError(f"{event_type}: versions must be v1..vN in one aggregate folder")
    return by_type, by_fp


def event_types() -> list[str]:
    """Every event type with a schema, sorted."""
    return sorted(_registry()[0])


def versions_of(event_type: str) -> list[SchemaVersion]:
    """The event type's versions, oldest first. Raises SchemaError for an unknown event type."""
    return list(_versions(event_type))


def _versions(event_type: str) -> list[SchemaVersion]:
    versions = _registry()[0].get(event_type)
    if versions is None:
        raise SchemaError(f"unknown event type {event_type!r}; schemas live in {SCHEMA_DIR}")
    return versions


def latest(event_type: str) -> SchemaVersion:
    """The version producers write. Raises SchemaError for an unknown event type."""
    return _versions(event_type)[-1]  # not versions_of: a copy per event showed in the consumers' profiles


def aggregate_of(event_type: str) -> str:
    """The aggregate (schema folder / namespace suffix). Raises SchemaError for an unknown event type."""
    return latest(event_type).aggregate


def topic_of(event_type: str) -> str:
    """`shop.<aggregate>.events`. Raises SchemaError for an unknown event type."""
    return f"shop.{aggregate_of(event_type)}.events"


UnknownFields = Callable[[Any, str], list[str]]  # (datum, path so far) -> paths of keys the schema lacks


def _unknown_fields_check(schema: Any) -> UnknownFields | None:
    """A function listing a datum's keys that `schema` does not have, at any depth; None when nothing
    under `schema` is a record. fastavro silently drops such keys; in a contract that turns a typo
    ("shiping_note") into lost data, so encode() refuses them instead. Built once per schema version
    (_checks): walking the schema for every record was ~40 % of encode()'s time."""
    if isinstance(schema, list):  # union: descend only when the record branch is unambiguous
        records = [b for b in schema if isinstance(b, dict) and b.get("type") == "record"]
        return _unknown_fields_check(records[0]) if len(records) == 1 else None
    if not isinstance(schema, dict):  # a primitive, or a named type's reference (not descended into)
        return None
    if schema["type"] == "record":
        names = frozenset(f["name"] for f in schema["fields"])
        below = {f["name"]: check for f in schema["fields"] if (check := _unknown_fields_check(f["type"])) is not None}

        def check_record(datum: Any, where: str) -> list[str]:
            if not isinstance(datum, dict):
                return []
            problems = [] if names.issuperset(datum) else [f"{where}{key}" for key in datum if key not in names]
            for key, check in below.items():
                if key in datum:
                    problems += check(datum[key], f"{where}{key}.")
            return problems
        return check_record
    if schema["type"] == "array":
        check_item = _unknown_fields_check(schema["items"])
        if check_item is None:
            return None

        def check_array(datum: Any, where: str) -> list[str]:
            if not isinstance(datum, list):
                return []
            # Each item checked with no path first: building every item's path costs more than the
            # check (an order's lines, per event); the paths are built only to name a problem.
            if not any(check_item(item, "") for item in datum):
                return []
            return [p for i, item in enumerate(datum) for p in check_item(item, f"{where[:-1]}[{i}].")]
        return check_array
    return None


_checks: dict[tuple[str, int], UnknownFields | None] = {}


def _unknown_fields(schema: SchemaVersion, record: Any) -> list[str]:
    key = (schema.event_type, schema.version)
    if key not in _checks:  # a race builds the same function twice: harmless
        _checks[key] = _unknown_fields_check(schema.parsed)
    check = _checks[key]
    return [] if check is None else check(record, "")


def encode(event_type: str, record: dict[str, Any]) -> EncodedPayload:
    """Encode `record` with the newest schema of `event_type`, as single-object encoding.

    Raises SchemaError for an unknown event type, a record that does not match the schema (missing
    field, wrong type, key not in the schema, value its logical type cannot hold such as a non-UUID
    string) -- before any byte is returned, so nothing undecodable reaches the append-only store.
    """
    schema = latest(event_type)
    unknown = _unknown_fields(schema, record)
    if unknown:
        raise SchemaError(f"{event_type} record has fields not in {schema.path.name}: {', '.join(unknown)}")
    body = io.BytesIO()
    try:
        # The quiet check first: with raise_errors=True fastavro builds an exception for every union
        # branch it tries, which made up a quarter of a consumer's encoding time; a failing record is
        # checked again, loudly, for the message.
        if not validate(record, schema.parsed, raise_errors=False):
            validate(record, schema.parsed, raise_errors=True)
        fastavro.schemaless_writer(body, schema.parsed, record)
        # Read it back: fastavro writes some values it cannot read (e.g. "abc" as a uuid), and an
        # event store row is immutable, so a payload no consumer can decode must never be written.
        # (Reader schema = writer schema: no resolution step needed.)
        body.seek(0)
        fastavro.schemaless_reader(body, schema.parsed, None)
    except (ValidationError, ValueError, TypeError, KeyError, AttributeError, OverflowError, EOFError) as err:
        raise SchemaError(f"{event_type} record does not match {schema.path.name}: {err}") from err
    return EncodedPayload(MARKER + schema.fingerprint + body.getvalue(), schema.fingerprint_hex, schema.version)


def decode(payload: bytes, expected_event_type: str | None = None) -> DecodedEvent:
    """Decode a single-object payload, resolving it to the newest schema of its event type.

    Raises MalformedPayload (no C3 01 marker, shorter than the 10-byte header, truncated/corrupt body,
    trailing bytes), UnknownSchema (fingerprint of no file in `schemas/`, e.g. a producer newer than
    this reader), or SchemaError when the payload's event type is not `expected_event_type`.
    """
    if len(payload) < _HEADER_LEN or payload[:2] != MARKER:
        raise MalformedPayload("not Avro single-object encoding (missing C3 01 marker or fingerprint)")
    writer = _registry()[1].get(bytes(payload[2:_HEADER_LEN]))
    if writer is None:
        raise UnknownSchema(f"no schema in {SCHEMA_DIR} has fingerprint {payload[2:_HEADER_LEN].hex()}")
    if expected_event_type is not None and writer.event_type != expected_event_type:
        raise SchemaError(f"payload is {writer.event_type}, expected {expected_event_type}")
    reader = latest(writer.event_type)
    body = io.BytesIO(payload[_HEADER_LEN:])
    try:
        # Resolution only between different versions: reading with reader = writer costs 3x more.
        record = fastavro.schemaless_reader(body, writer.parsed, None if reader is writer else reader.parsed)
    except Exception as err:  # corrupt bytes surface as EOFError, ValueError, OverflowError, IndexError...
        raise MalformedPayload(f"corrupt {writer.event_type} v{writer.version} body: {err!r}") from err
    if body.tell() != len(payload) - _HEADER_LEN:
        raise MalformedPayload(f"{len(payload) - _HEADER_LEN - body.tell()} trailing bytes after the "
                               f"{writer.event_type} body")
    return DecodedEvent(writer.event_type, writer.version, record)


def _structural_problems(writer: Any, reader: Any, where: str) -> list[str]:
    # Readable reasons for the common mistakes; the data check below is the authority on the rest.
    if isinstance(writer, dict) and isinstance(reader, dict) and writer.get("type") == reader.get("type"):
        if reader["type"] == "record":
            old = {f["name"]: f["type"] for f in writer["fields"]}
            problems = []
            for field in reader["fields"]:
                name = f"{where}{field['name']}"
                if field["name"] not in old:
                    if "default" not in field:
                        problems.append(f"field {name!r} is new and has no default")
                else:
                    problems += _structural_problems(old[field["name"]], field["type"], f"{name}.")
            return problems
        if reader["type"] == "array":
            return _structural_problems(writer["items"], reader["items"], f"{where[:-1]}[].")
        if reader["type"] == "enum":
            removed = sorted(set(writer["symbols"]) - set(reader["symbols"]))
            if removed and "default" not in reader:
                return [f"enum {where[:-1]!r} lost symbols {removed} and has no default symbol"]
    return []


def check_backward_compatible(writer_schema: dict[str, Any], reader_schema: dict[str, Any],
                              samples: int = 25) -> list[str]:
    """Problems that stop `reader_schema` from reading data written with `writer_schema` ([] = compatible).

    Two checks: a structural one (a reader field the writer lacks needs a default, recursively; an enum
    that loses symbols needs a default symbol), and a resolution one: `samples` random records
    generated from the writer are written and read back with the reader through fastavro's schema
    resolution, which catches incompatible type changes and renames. Raises SchemaError when either
    schema is not valid Avro.
    """
    try:
        parsed_writer, parsed_reader = fastavro.parse_schema(writer_schema), fastavro.parse_schema(reader_schema)
    except Exception as err:  # noqa: BLE001 - fastavro raises several types for invalid schemas
        raise SchemaError(f"not a valid Avro schema: {err}") from err
    problems = _structural_problems(writer_schema, reader_schema, "")
    for datum in generate_many(parsed_writer, samples):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed_writer, datum)
        buf.seek(0)
        try:
            fastavro.schemaless_reader(buf, parsed_writer, parsed_reader)
        except Exception as err:  # noqa: BLE001 - SchemaResolutionError, ValueError... depending on the type
            problems.append(f"data written with the old schema cannot be read: {str(err)[:200]}")
            break
    return problems
