"""Test settings: the project's settings pointed at a throw-away cluster on a free port.

The port is chosen when this module is imported (once per pytest process), and tests/conftest.py
starts the private PostgreSQL cluster there, so a running `make run` is never touched.
"""
import os
import socket

from orders_site.settings import *  # noqa: F401,F403
from orders_site.settings import DATABASES


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DATABASES["default"].update(
    HOST="127.0.0.1",
    PORT=os.environ.get("ORDERS_TEST_DB_PORT") or str(_free_port()),
    NAME="orders",
    USER="postgres",
    PASSWORD="",
    CONN_MAX_AGE=0,
)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STATIC_ROOT = None  # whitenoise serves nothing in tests; avoids a warning per request
