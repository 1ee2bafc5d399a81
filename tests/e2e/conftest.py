"""The whole embedded stack for end-to-end tests: real Postgres, Apache Kafka, Kafka Connect + Debezium,
consumer processes. Started once per session on free ports, against pytest-django's test database.

E2E tests commit for real (they must: Debezium only sees committed WAL), so they use the `e2e`
fixture, which opens database access without pytest-django's per-test transaction.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest
from django.db import connection

from stack.harness import EmbeddedStack, on_free_ports

from .saga_helpers import CONSUMERS


@pytest.fixture(scope="session")
def e2e_stack(pg_stack: EmbeddedStack, django_db_setup, django_db_blocker) -> Iterator[EmbeddedStack]:
    with django_db_blocker.unblock():
        db_name = connection.settings_dict["NAME"]
        connection.close()
    cfg = on_free_ports(replace(pg_stack.cfg, db_name=db_name))
    stack = EmbeddedStack.create(cfg)
    stack.components["postgres"] = pg_stack["postgres"]
    try:
        stack.start_broker()
        stack.start_relay()
        yield stack
    finally:
        stack.stop_all(keep_postgres=True)  # the session's cluster, stopped by pg_stack
        # pytest-django drops the test database next; Postgres refuses while a slot points at it.
        with psycopg.connect(cfg.db_dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                         "WHERE database = %s", (db_name,))


@pytest.fixture
def e2e(e2e_stack: EmbeddedStack, django_db_blocker) -> Iterator[EmbeddedStack]:
    """The running stack, with real (committing) database access for the test body."""
    with django_db_blocker.unblock():
        yield e2e_stack
        connection.close()


@pytest.fixture(scope="session")
def saga_stack(e2e_stack: EmbeddedStack) -> EmbeddedStack:
    """The stack plus the gateway simulator and the five consumer processes (started on first use)."""
    e2e_stack.start_gateway()
    e2e_stack.start_consumers(CONSUMERS)
    return e2e_stack


@pytest.fixture
def saga(saga_stack: EmbeddedStack, e2e: EmbeddedStack) -> EmbeddedStack:
    for name in CONSUMERS + ["gateway"]:  # a previous test may have killed one
        if not saga_stack[name].running:
            saga_stack[name].start()
    return saga_stack
