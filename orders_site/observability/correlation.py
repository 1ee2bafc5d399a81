"""The correlation id: accepted from `X-Correlation-ID` when it is a UUID, minted otherwise.

It becomes the `correlation_id` of every event the request writes (the event store's column, which
the relay puts in the `correlationId` Kafka header and every consumer passes on), so one id follows
an order from the HTTP request through every process's log lines.
"""
from __future__ import annotations

import uuid

HEADER = "X-Correlation-ID"
META_KEY = "HTTP_X_CORRELATION_ID"


def accept(raw: str | None) -> tuple[uuid.UUID, bool]:
    """(the id to use, whether `raw` was used). Anything but a UUID is replaced, never refused: a
    client's bad tracing header must not cost it its order."""
    if raw:
        try:
            return uuid.UUID(raw.strip()[:64]), True
        except ValueError:
            pass
    return uuid.uuid4(), False
