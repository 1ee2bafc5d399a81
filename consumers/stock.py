"""The stock service's consumer. Handlers are filled in by the saga (issue 4)."""
from __future__ import annotations

from .runtime import Service

SERVICE = Service(name="stock", topics=["shop.order.events"])
