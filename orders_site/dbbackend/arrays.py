"""Array parameters whose element type is known before the statement runs.

The set-based statements pass one array per column (`unnest(%b::uuid[], %b::text[], ...)`). Given a
plain list, psycopg finds the element type by looking for a non-null item, then builds a dumper for
that list, per list and per statement (a Django cursor's adaptation cache lives as long as the
cursor): ~10 us of CPU per array, and a consumer's batch passes ~15-20 of them (docs/benchmarks.md,
"Saga, seventh pass"). A list wrapped here carries its type, so its dumper is chosen by class alone
and dumps the items with the element type's own (C) dumper. Pass them with `%b`, as any array.
"""
from __future__ import annotations

import psycopg
from psycopg import pq
from psycopg.abc import AdaptContext
from psycopg.types.array import ListBinaryDumper


class _Typed(list):
    """A list of one PostgreSQL element type (None items are NULLs)."""

    element_type = ""


class _TypedDumper(ListBinaryDumper):
    def __init__(self, cls: type, context: AdaptContext | None = None) -> None:
        super().__init__(cls, context)
        info = self._tx.adapters.types[cls.element_type]
        self.sub_dumper = self._tx.adapters.get_dumper_by_oid(info.oid, pq.Format.BINARY)(object, self._tx)
        self.oid = info.array_oid  # set: get_key() and upgrade() no longer look at the items


def _array(element_type: str) -> type[_Typed]:
    return type(f"{element_type.title()}Array", (_Typed,), {"element_type": element_type})


_TYPES = tuple(_array(t) for t in ("uuid", "text", "int8", "bool", "bytea", "timestamptz"))


def register() -> None:
    """Make psycopg dump these lists by their type. Connections made afterwards see it: called
    when the database backend is imported, before Django makes its first connection (Django
    copies psycopg's adapters for its connections once)."""
    for cls in _TYPES:
        psycopg.adapters.register_dumper(cls, _TypedDumper)


# A typed array is made like a list: `arrays.uuids(ids)`, `arrays.texts(s.value for s in statuses)`.
# Integers go as bigint whatever the column: the statement's cast (`%b::int[]`) range-checks them on
# the server. A 32-bit dumper would wrap a value out of its range silently (2**31 arrives negative).
uuids, texts, ints, bools, byteas, timestamptzs = _TYPES
