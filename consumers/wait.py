"""Start-up gate: a consumer started together with the database waits until the schema is migrated."""
from __future__ import annotations

import logging
import time

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import OperationalError

log = logging.getLogger("consumers")


def _migrated() -> bool:
    try:
        executor = MigrationExecutor(connection)
        return not executor.migration_plan(executor.loader.graph.leaf_nodes())
    except OperationalError:
        connection.close()
        return False


def wait_for_schema(timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    announced = False
    while not _migrated():
        if time.monotonic() > deadline:
            raise SystemExit(f"database schema not migrated after {timeout:.0f}s (run `python manage.py migrate`)")
        if not announced:
            log.info("waiting for the database and its migrations")
            announced = True
        time.sleep(1)
