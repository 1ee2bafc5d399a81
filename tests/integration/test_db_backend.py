"""The PostgreSQL backend's health check (orders_site/dbbackend/base.py): skipped for a connection used
a moment ago, done for one that sat idle, and a dead connection is replaced."""
from __future__ import annotations

import pytest
from django.db import DataError, connection, transaction

from orders_site.dbbackend import base


@pytest.mark.django_db(transaction=True)
def test_health_check_runs_only_after_idle_and_replaces_a_dead_connection(monkeypatch) -> None:
    # given a persistent connection that just ran a query, with health checks on
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", None)  # as in production: kept between requests
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    checks: list[bool] = []
    real = connection.is_usable
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(True) or real())
    # when a new request starts right away, then no check is sent
    connection.close_if_unusable_or_obsolete()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert checks == []
    # when the connection was idle longer and died meanwhile, then the check finds it and a new one serves
    monkeypatch.setattr(base, "HEALTH_CHECK_AFTER_IDLE_SECONDS", 0.0)
    connection.close_if_unusable_or_obsolete()
    connection.connection.close()  # the server side went away
    with connection.cursor() as cursor:
        cursor.execute("SELECT 2")
        assert cursor.fetchone() == (2,)
    assert checks == [True]


@pytest.mark.django_db
def test_typed_arrays_are_dumped_by_their_type_and_read_back_unchanged() -> None:
    import uuid
    from datetime import datetime, timezone

    from psycopg.adapt import PyFormat

    from orders_site.dbbackend import arrays

    at = datetime(2026, 11, 28, 10, 0, 0, 123456, tzinfo=timezone.utc)
    columns = [arrays.uuids([uuid.UUID(int=1), None]), arrays.texts(["a", None]), arrays.ints([7, None]),
               arrays.ints([2**40, None]),
               arrays.bools([True, None]), arrays.byteas([b"\x00\xff", None]), arrays.timestamptzs([at, None])]
    with connection.cursor() as cursor:
        for column in columns:  # chosen by class alone: no look at the items, no dumper built per list
            assert isinstance(cursor.cursor.adapters.get_dumper(type(column), PyFormat.BINARY)(type(column)),
                              arrays._TypedDumper)
        cursor.execute("SELECT %b::uuid[], %b::text[], %b::int[], %b::bigint[], %b::boolean[], %b::bytea[],"
                       " %b::timestamptz[], %b::uuid[]", [*columns, arrays.uuids([])])
        row = cursor.fetchone()
    assert [[bytes(v) if isinstance(v, memoryview) else v for v in got] for got in row[:7]] == [list(c) for c in columns]
    assert row[7] == []
    with pytest.raises(DataError), transaction.atomic(), connection.cursor() as cursor:  # never wrapped around
        cursor.execute("SELECT %b::int[]", [arrays.ints([2**31])])
