"""The PostgreSQL backend's health check (orders_site/dbbackend/base.py): skipped for a connection used
a moment ago, done for one that sat idle, and a dead connection is replaced."""
from __future__ import annotations

import pytest
from django.db import connection

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
