"""settle_all records what the gateway said, once: each outcome's row and event, and nothing for a
payment already settled (a late or repeated answer), whatever that answer is."""
from __future__ import annotations

import uuid

import pytest

from orders_site.eventstore import avro
from orders_site.eventstore.models import StoredEvent
from orders_site.orders.checkout import CheckoutLine, CheckoutRequest, place_order
from orders_site.payments.gateway_client import ChargeResult
from orders_site.payments.models import Payment
from orders_site.payments.services import settle_all

pytestmark = pytest.mark.usefixtures("catalog")
S = Payment.Status


def pending(alice) -> Payment:  # noqa: ANN001 - the conftest's client fixture
    order = place_order(alice.user.pk, CheckoutRequest((CheckoutLine("KB-001", 1),), "card"))
    return Payment.objects.create(order=order, attempt=1, idempotency_key=f"{order.pk}:1", method="card",
                                  amount_minor=order.total_minor, currency=order.currency,
                                  correlation_id=uuid.uuid4(), cause_event_id=uuid.uuid4())


def payment_events(payment: Payment) -> list[tuple[str, dict]]:
    rows = StoredEvent.objects.filter(aggregate_id=str(payment.order_id), event_type__startswith="Payment")
    return [(row.event_type, avro.decode(bytes(row.payload)).record) for row in rows.order_by("sequence")]


def test_each_outcome_is_recorded_with_its_event(alice) -> None:  # noqa: ANN001
    captured, declined, in_doubt, unheard = (pending(alice) for _ in range(4))
    settle_all([(captured.pk, ChargeResult("captured", transaction_id="tx-1")),
                (declined.pk, ChargeResult("declined", transaction_id="tx-2", decline_code="card_declined")),
                (in_doubt.pk, ChargeResult("unknown", detail="gateway timed out")),
                (unheard.pk, ChargeResult("not_found"))])
    rows = {p.pk: Payment.objects.get(pk=p.pk) for p in (captured, declined, in_doubt, unheard)}
    assert (rows[captured.pk].status, rows[captured.pk].gateway_transaction_id) == (S.CAPTURED, "tx-1")
    assert (rows[declined.pk].status, rows[declined.pk].decline_code, rows[declined.pk].failure_reason) == (
        S.DECLINED, "card_declined", "declined by the gateway")
    assert (rows[in_doubt.pk].status, rows[in_doubt.pk].failure_reason) == (S.IN_DOUBT, "gateway timed out")
    assert rows[unheard.pk].status == S.PENDING and rows[unheard.pk].updated_at == unheard.updated_at
    [(kind, record)] = payment_events(captured)
    assert kind == "PaymentCompleted" and str(record["payment_id"]) == str(captured.pk)
    assert (record["gateway_transaction_id"], record["amount_minor"], record["attempt"]) == (
        "tx-1", captured.amount_minor, 1)
    event = StoredEvent.objects.get(aggregate_id=str(captured.order_id), event_type="PaymentCompleted")
    assert (event.correlation_id, event.causation_id) == (captured.correlation_id, captured.cause_event_id)
    [(kind, record)] = payment_events(declined)
    assert kind == "PaymentFailed" and record["decline_code"] == "card_declined"
    assert payment_events(in_doubt) == [] and payment_events(unheard) == []


@pytest.mark.parametrize("late", [ChargeResult("declined", transaction_id="tx-9", decline_code="x"),
                                  ChargeResult("unknown", detail="late"), ChargeResult("captured", transaction_id="tx-9")])
def test_an_answer_for_a_settled_payment_changes_nothing(alice, late: ChargeResult) -> None:  # noqa: ANN001
    payment = pending(alice)
    settle_all([(payment.pk, ChargeResult("captured", transaction_id="tx-1"))])
    before = Payment.objects.get(pk=payment.pk)
    settle_all([(payment.pk, late)])
    after = Payment.objects.get(pk=payment.pk)
    assert (after.status, after.gateway_transaction_id, after.updated_at) == (S.CAPTURED, "tx-1", before.updated_at)
    assert [kind for kind, _ in payment_events(payment)] == ["PaymentCompleted"]


def test_a_payment_in_doubt_is_settled_by_the_answer_that_follows(alice) -> None:  # noqa: ANN001
    payment = pending(alice)
    settle_all([(payment.pk, ChargeResult("unknown", detail="gateway timed out"))])
    settle_all([(payment.pk, ChargeResult("captured", transaction_id="tx-3"))])
    assert Payment.objects.get(pk=payment.pk).status == S.CAPTURED
    assert [kind for kind, _ in payment_events(payment)] == ["PaymentCompleted"]
