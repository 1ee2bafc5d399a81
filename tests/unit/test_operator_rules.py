"""The operator's refusals, in words (pure): cancelling, retrying a payment, re-driving a dead letter;
and the one way times, money and ages are shown."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from orders_site.eventstore import avro
from orders_site.orders.cancellation import why_not_cancellable
from orders_site.orders.status import OrderStatus
from orders_site.payments.retry import why_not_retryable
from orders_site.pipeline.dead_letters import DeadLetter, why_undeliverable
from orders_site.pipeline.display import age, money, size, when

S = OrderStatus


@pytest.mark.parametrize("status", [S.ORDERED, S.STOCK_HELD, S.PAYMENT_COMPLETED, S.DELIVERY_PREPARING])
def test_orders_that_have_not_shipped_can_be_cancelled(status: OrderStatus) -> None:
    assert why_not_cancellable(status) is None


@pytest.mark.parametrize(("status", "why"), [
    (S.SHIPPED, "the order has shipped: it can no longer be cancelled"),
    (S.DELIVERED, "the order has delivered: it can no longer be cancelled"),
    (S.CANCELLED, "the order is already cancelled"),
    (S.STOCK_REJECTED, "the order ended as STOCK_REJECTED: there is nothing to cancel"),
    (S.PAYMENT_FAILED, "the order ended as PAYMENT_FAILED: there is nothing to cancel"),
])
def test_too_late_says_why(status: OrderStatus, why: str) -> None:
    assert why_not_cancellable(status) == why


@pytest.mark.parametrize(("payment", "order", "allowed"), [
    ("IN_DOUBT", S.STOCK_HELD, True),
    ("PENDING", S.STOCK_HELD, True),
    ("IN_DOUBT", S.ORDERED, True),  # "paid" may be heard before "stock held"
    ("IN_DOUBT", S.CANCELLED, False),
    ("DECLINED", S.PAYMENT_FAILED, False),
    ("CAPTURED", S.DELIVERY_PREPARING, False),
    ("REFUNDED", S.CANCELLED, False),
])
def test_a_payment_is_retried_only_while_its_outcome_is_unknown_and_the_order_payable(
        payment: str, order: OrderStatus, allowed: bool) -> None:
    assert (why_not_retryable(payment, order) is None) is allowed


def _letter(value: bytes, event_type: str = "OrderCreated", origin: str = "shop.order.events") -> DeadLetter:
    headers = [("id", str(uuid.uuid4()).encode()), ("eventType", event_type.encode()), ("sequence", b"1"),
               ("dlq.reason", b"handler failed repeatedly")]
    if origin:
        headers.append(("dlq.origin.topic", origin.encode()))
    return DeadLetter("stock", "shop.dlq.stock", 0, 7, None, b"key", value, tuple(headers))


def test_a_dead_letter_that_decodes_may_be_redriven_and_keeps_its_original_headers() -> None:
    record = {"order_id": str(uuid.uuid4()), "lines": [{"sku": "KB-001", "quantity": 1}]}
    letter = _letter(avro.encode("StockHeld", record).payload, "StockHeld", "shop.stock.events")
    assert why_undeliverable(letter) is None
    assert [k for k, _ in letter.original_headers] == ["id", "eventType", "sequence"]


def test_a_dead_letter_that_still_does_not_decode_is_kept_with_the_reason() -> None:
    assert why_undeliverable(_letter(b"\xc3\x01garbage")).startswith("still undecodable")
    assert "no dlq.origin.topic" in why_undeliverable(_letter(b"", origin=""))


def test_times_money_ages_and_sizes_are_shown_one_way() -> None:
    moment = datetime(2026, 11, 27, 16, 26, 5, 123456, tzinfo=timezone.utc)
    assert when(moment) == "2026-11-27 16:26:05 UTC"
    assert when(None) == "-"
    assert money(17800, "USD") == "178.00 USD" and money(123456789, "EUR") == "1,234,567.89 EUR"
    assert [age(moment - timedelta(seconds=s), moment) for s in (5, 600, 3 * 3600 + 300, 50 * 3600)] == [
        "5 s", "10 min", "3 h 5 min", "2 d 2 h"]
    assert [size(n) for n in (512, 2048, 5 * 1024 ** 3)] == ["512 B", "2.0 KiB", "5.0 GiB"]
