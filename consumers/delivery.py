"""The delivery service's consumer. Handlers are filled in by the saga (issue 4)."""
from __future__ import annotations

from .runtime import Service

SERVICE = Service(name="delivery", topics=["shop.order.events"])
