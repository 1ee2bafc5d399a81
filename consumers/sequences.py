"""Watching each aggregate's sequence numbers go by, to count gaps and reordering."""
from __future__ import annotations

from collections import OrderedDict


class SequenceTracker:
    """Last sequence seen per aggregate (bounded: the oldest aggregates are forgotten first)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self.last: OrderedDict[tuple[str, str], int] = OrderedDict()

    def observe(self, topic: str, aggregate_id: str, sequence: int | None) -> str:
        """"next", "first", "gap" (numbers were skipped) or "behind" (a repeat or an older event)."""
        if sequence is None:
            return "first"
        key = (topic, aggregate_id)
        previous = self.last.get(key)
        if previous is not None and sequence <= previous:
            return "behind"
        self.last[key] = sequence
        self.last.move_to_end(key)
        if len(self.last) > self.capacity:
            self.last.popitem(last=False)
        if previous is None:
            return "first"  # after a restart we may join an aggregate mid-stream
        return "next" if sequence == previous + 1 else "gap"
