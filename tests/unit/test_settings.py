"""Production settings refuse DEBUG and the development secret key (checked in a fresh interpreter,
since Django settings are evaluated once per process)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _import_settings(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "ORDERS_ENV"))}
    return subprocess.run([sys.executable, "-c", "import orders_site.settings"], env={**clean, **env},
                          capture_output=True, text=True)


@pytest.mark.parametrize(("env", "message"), [
    ({"ORDERS_ENV": "production"}, "DJANGO_SECRET_KEY"),
    ({"ORDERS_ENV": "production", "DJANGO_SECRET_KEY": "s3cret-from-vault", "DJANGO_DEBUG": "1"}, "DJANGO_DEBUG"),
])
def test_production_refuses_unsafe_settings(env: dict[str, str], message: str) -> None:
    result = _import_settings(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_production_starts_with_a_real_key_and_no_debug() -> None:
    assert _import_settings(ORDERS_ENV="production", DJANGO_SECRET_KEY="s3cret-from-vault").returncode == 0


def test_development_defaults_are_accepted() -> None:
    assert _import_settings().returncode == 0
