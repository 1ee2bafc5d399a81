"""Pure parts of the consumer runtime and the gateway's fault plan."""
from __future__ import annotations

import uuid

import pytest

from consumers.events import InboundEvent, PoisonMessage, aggregate_of_topic, from_message
from consumers.sequences import SequenceTracker
from gateway.faults import FaultPlan
from tests.consumer_fakes import FakeMessage


def test_sequence_tracker_tells_next_gap_and_behind() -> None:
    seen = SequenceTracker()
    assert seen.observe("t", "a", 3) == "first"  # joined mid-stream after a restart
    assert seen.observe("t", "a", 4) == "next"
    assert seen.observe("t", "a", 6) == "gap"
    assert seen.observe("t", "a", 5) == "behind"  # late or redelivered: the inbox decides
    assert seen.observe("t", "b", 1) == "first"
    assert seen.observe("t", "a", None) == "first"


def test_sequence_tracker_is_bounded() -> None:
    seen = SequenceTracker(capacity=2)
    for key in "abc":
        seen.observe("t", key, 1)
    assert list(seen.last) == [("t", "b"), ("t", "c")]


def test_headers_become_an_inbound_event() -> None:
    event = from_message(FakeMessage([("id", b"6b6e3a33-4c3b-4a37-9d5e-f8bc8603f2be"), ("eventType", b"OrderCreated"),
                                      ("sequence", b"2"), ("causationId", None)]))
    assert (event.event_type, event.sequence, event.aggregate_type, event.causation_id) == (
        "OrderCreated", 2, "order", None)


@pytest.mark.parametrize("headers", [[], [("id", b"not-a-uuid"), ("eventType", b"X")], [("eventType", b"X")],
                                     [("id", b"6b6e3a33-4c3b-4a37-9d5e-f8bc8603f2be"), ("sequence", b"two"),
                                      ("eventType", b"X")]])
def test_messages_without_usable_headers_are_poison(headers: list) -> None:
    with pytest.raises(PoisonMessage):
        from_message(FakeMessage(headers))


def test_aggregate_comes_from_the_topic_name() -> None:
    assert aggregate_of_topic("shop.payment.events") == "payment"
    assert aggregate_of_topic("other") == ""


def test_fault_rates_parse_and_refuse_nonsense() -> None:
    assert FaultPlan.parse_rates("decline=0.1, hang=0.02") == {"decline": 0.1, "hang": 0.02}
    for bad in ("explode=0.1", "decline=2", "decline=x"):
        with pytest.raises(ValueError):
            FaultPlan.parse_rates(bad)


def test_per_customer_faults_are_one_shot_and_counted() -> None:
    plan = FaultPlan(per_customer={"7": ["lost", "decline"]})
    assert [plan.pick("7"), plan.pick("7"), plan.pick("7"), plan.pick("8")] == ["lost", "decline", None, None]
    assert plan.injected["lost"] == plan.injected["decline"] == 1


def _status_changed(to_status: str) -> InboundEvent:
    return InboundEvent(uuid.uuid4(), "OrderStatusChanged", "order", "o-1", 2, None, None, b"", "shop.order.events",
                        0, 0, record={"to_status": to_status})


@pytest.mark.parametrize("to_status", ["STOCK_HELD", "PAYMENT_COMPLETED", "DELIVERY_PREPARING", "CANCELLED",
                                       "STOCK_REJECTED", "PAYMENT_FAILED"])
def test_status_changes_reach_only_the_services_they_concern(to_status: str) -> None:
    # stock and payment act on cancellations only; the customer hears of outcomes only. The rest are
    # ignored before any transaction is opened.
    from consumers.notification import SERVICE as notification
    from consumers.payment import SERVICE as payment
    from consumers.stock import SERVICE as stock

    event = _status_changed(to_status)
    assert stock.wants(event) is (to_status == "CANCELLED")
    assert payment.wants(event) is (to_status == "CANCELLED")
    assert notification.wants(event) is (to_status in {"DELIVERY_PREPARING", "CANCELLED", "STOCK_REJECTED",
                                                       "PAYMENT_FAILED"})


def test_events_without_a_filter_are_always_wanted() -> None:
    from consumers.stock import SERVICE as stock

    created = InboundEvent(uuid.uuid4(), "OrderCreated", "order", "o-1", 1, None, None, b"", "shop.order.events", 0, 0)
    assert stock.wants(created)
