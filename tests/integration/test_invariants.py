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


def _order(status: str = "ORDERED"):
    from django.contrib.auth import get_user_model

    from orders_site.orders.checkout import CheckoutLine, CheckoutRequest, place_order
    from orders_site.orders.models import Order

    customer = get_user_model().objects.create(username=f"inv-{uuid.uuid4().hex[:6]}")
    order = place_order(customer.pk, CheckoutRequest((CheckoutLine("KB-001", 1),), "card"))
    Order.objects.filter(pk=order.pk).update(status=status)
    return order


def test_an_event_missing_on_the_broker_is_reported_the_newest_included_when_asked() -> None:
    from datetime import timedelta

    from orders_site.audit.invariants import check_published
    from orders_site.eventstore.models import StoredEvent

    order = _order()
    created = str(StoredEvent.objects.get(aggregate_id=str(order.pk)).event_id)
    # an event just committed is not yet expected on the broker by default...
    assert check_published("unused", read=lambda _: set()).ok
    # ...but a final check counts it, and reports it when the broker does not have it
    finding = check_published("unused", timedelta(0), read=lambda _: set())
    assert not finding.ok and finding.offenders == [created]
    assert check_published("unused", timedelta(0), read=lambda _: {created}).ok
    # and an event kept off the published stream is never expected there
    with transaction.atomic():
        append_event(NewEvent("order", str(order.pk), "OrderStatusChanged", b"\xc3\x01", "0" * 16,
                              correlation_id=uuid.uuid4(), published=False))
    assert check_published("unused", timedelta(0), read=lambda _: {created}).ok


def test_an_order_open_for_too_long_is_reported() -> None:
    from datetime import timedelta

    from orders_site.audit.invariants import check_orders_settled

    order = _order()
    assert check_orders_settled(timedelta(minutes=5)).ok
    finding = check_orders_settled(timedelta(0))
    assert not finding.ok and finding.offenders[0].startswith(f"{order.number} (ORDERED")


def test_an_outcome_without_its_notification_is_reported() -> None:
    from orders_site.audit.invariants import check_notified_once
    from orders_site.eventstore.cause import Cause
    from orders_site.notifications.services import Outcome, notify_outcomes

    order = _order("PAYMENT_FAILED")
    assert check_notified_once().offenders == [f"{order.number} (PAYMENT_FAILED): 0 notifications"]
    notify_outcomes([Outcome(order.pk, "PAYMENT_FAILED", "declined", Cause.fresh())])
    assert check_notified_once().ok
    # a notification of another outcome does not count for this one
    other = _order("STOCK_REJECTED")
    notify_outcomes([Outcome(other.pk, "PAYMENT_FAILED", "declined", Cause.fresh())])
    assert check_notified_once().offenders == [f"{other.number} (STOCK_REJECTED): 0 notifications"]


def test_money_kept_for_an_unpaid_order_or_taken_twice_is_reported(tmp_path) -> None:
    from orders_site.audit.invariants import check_money
    from orders_site.payments.gateway_client import GatewayClient

    from .saga_driver import gateway_simulator

    order = _order("CANCELLED")
    with gateway_simulator(tmp_path):
        from consumers import payment

        url = payment.client.base_url
        assert check_money(url).ok
        # the gateway kept a capture for an order that is not paid
        GatewayClient(url).charge(key="k-1", order_id=str(order.pk), customer_id="1", amount_minor=8900,
                                  currency="USD", method="card")
        finding = check_money(url)
        assert not finding.ok and str(order.pk) in finding.offenders[0]
        # and the same order charged a second time under another key
        GatewayClient(url).charge(key="k-2", order_id=str(order.pk), customer_id="1", amount_minor=8900,
                                  currency="USD", method="card")
        assert f"{order.pk} x2" in check_money(url).offenders


@pytest.mark.parametrize("failing", [False, True])
def test_the_command_exits_1_exactly_when_an_invariant_fails(monkeypatch, capsys, failing: bool) -> None:
    from django.core.management import ManagementUtility

    from orders_site.audit import invariants
    from orders_site.audit.management.commands import check_invariants

    findings = [invariants.Finding("a", True, "fine"), invariants.Finding("b", not failing, "broken" * failing)]
    monkeypatch.setattr(check_invariants, "check_all", lambda **_: findings)
    try:
        ManagementUtility(["manage.py", "check_invariants"]).execute()
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    assert code == (1 if failing else 0)
    if failing:
        assert "1 invariant(s) failed: b" in out.err
    else:
        assert "all invariants hold" in out.out
