"""A web worker does its one-time work when it starts, not inside its first request."""
from __future__ import annotations

import subprocess
import sys

from stack.config import REPO_ROOT

PROBE = """
import sys
import orders_site.wsgi
from orders_site.eventstore import avro
print("urlconf", "orders_site.urls" in sys.modules)
print("checkout view", "orders_site.api.checkout" in sys.modules)
print("schemas", avro._registry.cache_info().currsize)
"""


def test_loading_the_wsgi_application_imports_the_views_and_reads_the_schemas() -> None:
    # A fresh interpreter: this test process has imported everything long ago.
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=REPO_ROOT,
                         env={"DJANGO_SETTINGS_MODULE": "orders_site.settings", "PATH": "/usr/bin:/bin"},
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == ["urlconf True", "checkout view True", "schemas 1"]
