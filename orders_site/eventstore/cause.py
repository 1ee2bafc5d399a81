"""What caused a write: the one type every service takes to fill in correlation and causation."""
from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Cause:
    """The event (or request / staff action) a write reacts to.

    `correlation_id` ties every event of one saga together (the checkout's id, carried on by each
    service); `event_id` / `event_type` name the direct cause, None for a request or staff action.
    """

    event_id: uuid.UUID | None
    event_type: str | None
    correlation_id: uuid.UUID

    @classmethod
    def fresh(cls) -> Cause:
        """A new saga (a checkout, a staff action with no event behind it)."""
        return cls(event_id=None, event_type=None, correlation_id=uuid.uuid4())
