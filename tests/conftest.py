"""Session fixtures shared by every layer: a private PostgreSQL cluster that pytest-django uses."""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from django.conf import settings

from stack import config
from stack.harness import EmbeddedStack


@pytest.fixture(scope="session")
def pg_stack() -> Iterator[EmbeddedStack]:
    """A fresh cluster (wal_level=logical) in a temporary directory, run as in `make run`."""
    data_dir = Path(tempfile.mkdtemp(prefix="orders-test-"))
    data_dir.chmod(0o755)  # the cluster runs as the unprivileged postgres user
    db = settings.DATABASES["default"]
    cfg = replace(config.load(), data_dir=data_dir, db_host=db["HOST"], db_port=int(db["PORT"]),
                  db_name="postgres", db_user=db["USER"], db_password=db["PASSWORD"])
    stack = EmbeddedStack.create(cfg)
    stack.start_postgres()
    yield stack
    stack["postgres"].stop()
    if os.environ.get("ORDERS_KEEP_TEST_DATA") != "1":  # keep logs for a post-mortem when asked
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def django_db_setup(pg_stack: EmbeddedStack, django_test_environment, django_db_blocker):
    """The test database on the private cluster, migrated once per session.

    Replaces pytest-django's fixture, which only creates databases that a `django_db`-marked test
    asks for; the e2e tests commit for real and carry no such mark.
    """
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        created = setup_databases(verbosity=0, interactive=False, aliases={"default"}, serialized_aliases=set())
    yield
    with django_db_blocker.unblock():
        teardown_databases(created, verbosity=0)
