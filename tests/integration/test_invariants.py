"""The invariant checker's database checks notice what they should (and pass on a clean state)."""
from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from orders_site.audit.invariants import check_effects_once, check_sequences, check_stock
from orders_site.catalog.models import Stock
from orders_site.eventstore.store import NewEvent, append_event, record_event

pytestmark = pytest.mark.usefixtures("catalog")


def test_clean_state_passes() -> None:
    assert check_stock().ok and check_sequences().ok and check_effects_once().ok


def test_stock_that_does_not_add_up_is_reported() -> None:
    Stock.objects.filter(product__sku="MN-003").update(on_hand=9)  # a unit vanished
    finding = check_stock()
    assert not finding.ok and finding.offenders[0].startswith("MN-003")


def test_a_reservation_count_without_a_reservation_is_reported() -> None:
    Stock.objects.filter(product__sku="KB-001").update(reserved=2)
    assert "open reservations hold 0" in check_stock().offenders[0]


def test_a_sequence_gap_is_reported() -> None:
    with transaction.atomic():
        append_event(NewEvent("probe", "a", "ProbeRecorded", b"x", "0" * 16, uuid.uuid4()), sequence=1)
        append_event(NewEvent("probe", "a", "ProbeRecorded", b"x", "0" * 16, uuid.uuid4()), sequence=3)
    assert check_sequences().offenders == ["probe/a (2 events, max #3)"]


def test_an_effect_recorded_twice_is_reported() -> None:
    order_id = str(uuid.uuid4())
    with transaction.atomic():
        for _ in range(2):
            record_event("StockHeld", order_id, {"order_id": order_id, "lines": [{"sku": "KB-001", "quantity": 1}]},
                         correlation_id=uuid.uuid4())
    finding = check_effects_once()
    assert not finding.ok and finding.offenders == [f"{order_id}: StockHeld x2"]
