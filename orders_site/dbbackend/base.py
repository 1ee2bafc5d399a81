"""Django's PostgreSQL backend, health-checking a persistent connection only after it sat idle.

With CONN_HEALTH_CHECKS Django sends `SELECT 1` before the first query of every request: on the
checkout, one round trip in nine (docs/benchmarks.md, "Checkout API"). A connection that finished
a query less than HEALTH_CHECK_AFTER_IDLE_SECONDS ago was working then; it is checked when it has
been idle longer (a database restart during a quiet spell is still noticed before a request
fails). A connection broken under load fails one request, and Django closes it at that request's
end as it always did.
"""
from __future__ import annotations

import time

from django.db.backends.postgresql import base

from . import arrays

arrays.register()

HEALTH_CHECK_AFTER_IDLE_SECONDS = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    _last_cursor_at = float("-inf")

    def create_cursor(self, name=None):  # noqa: ANN001, ANN201 - Django's signature
        cursor = super().create_cursor(name)
        self._last_cursor_at = time.monotonic()
        return cursor

    def close(self) -> None:
        super().close()
        self._last_cursor_at = float("-inf")

    def close_if_health_check_failed(self) -> None:
        if time.monotonic() - self._last_cursor_at < HEALTH_CHECK_AFTER_IDLE_SECONDS:
            self.health_check_done = True
            return
        super().close_if_health_check_failed()
