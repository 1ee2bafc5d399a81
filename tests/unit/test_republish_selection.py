"""What `republish` accepts, and the filter it hands Debezium (built only from parsed values)."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from orders_site.replay.republish import RepublishRefused, Selection, signal_data

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
T1 = datetime(2026, 11, 27, 11, 0, tzinfo=timezone.utc)


def test_one_order_becomes_an_aggregate_filter() -> None:
    order = uuid.UUID("6f1c2a8e-1b7c-4f0e-9a51-3f1f8f7a2d10")
    selection = Selection(order_id=order)
    selection.check()
    data = signal_data(selection)
    assert data["type"] == "incremental" and data["data-collections"] == ["public.event_store"]
    assert data["additional-conditions"] == [{"data-collection": "public.event_store",
                                              "filter": f"published AND aggregate_id = '{order}'"}]


def test_a_time_range_is_half_open() -> None:
    assert Selection(since=T0, until=T1).condition() == (
        "published AND occurred_at >= '2026-11-27T10:00:00+00:00' AND occurred_at < '2026-11-27T11:00:00+00:00'")
    assert Selection(since=T0).condition() == "published AND occurred_at >= '2026-11-27T10:00:00+00:00'"


@pytest.mark.parametrize("selection", [
    Selection(),
    Selection(order_id=uuid.uuid4(), since=T0),
    Selection(until=T1),
    Selection(since=T1, until=T0),
    Selection(since=T0.replace(tzinfo=None)),
])
def test_ambiguous_or_malformed_selections_are_refused(selection: Selection) -> None:
    with pytest.raises(RepublishRefused):
        selection.check()
