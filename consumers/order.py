"""The order service's consumer. Handlers are filled in by the saga (issue 4)."""
from __future__ import annotations

from .runtime import Service

SERVICE = Service(name="order", topics=["shop.order.events"])
