"""Taking money for an order, exactly once in effect (docs/design.md, "Known failure modes").

1. start_payment (in the consumer's transaction): record attempt 1 as PENDING, with a deterministic
   gateway idempotency key. Nothing is sent yet.
2. charge (after that commit, outside any transaction): call the gateway, then settle the outcome.
   A timeout / 5xx / lost response leaves the payment IN_DOUBT.
3. reconcile (periodically): ask the gateway by key about every PENDING or IN_DOUBT payment old
   enough; settle what it knows; charge again (same key: the gateway cannot charge twice) what never
   reached it. Also refund captures of orders that can no longer be paid.
Only one attempt per order exists, so an order can never be captured twice (also a DB constraint).
"""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from orders_site.eventstore.store import record_event
from orders_site.orders.models import Order
from orders_site.orders.status import OrderStatus

from .gateway_client import ChargeResult, GatewayClient
from .models import Payment

log = logging.getLogger("payments")
UNPAYABLE = {OrderStatus.CANCELLED, OrderStatus.STOCK_REJECTED, OrderStatus.PAYMENT_FAILED}
S = Payment.Status


def start_payment(order_id: uuid.UUID, *, correlation_id: uuid.UUID, cause_event_id: uuid.UUID) -> Payment | None:
    """Record the attempt before any call. Requires: a transaction. Idempotent per order.
    None for an order that can no longer be paid (cancelled before its stock was held)."""
    order = Order.objects.get(pk=order_id)
    if OrderStatus(order.status) in UNPAYABLE:
        return None
    payment, _ = Payment.objects.get_or_create(order=order, attempt=1, defaults=dict(
        idempotency_key=f"order-{order.pk}-attempt-1", method=order.payment_method, amount_minor=order.total_minor,
        currency=order.currency, correlation_id=correlation_id, cause_event_id=cause_event_id))
    return payment


def charge(payment_id: uuid.UUID, client: GatewayClient) -> None:
    """Call the gateway for a recorded attempt and settle. Must not run inside a transaction."""
    payment = Payment.objects.select_related("order").get(pk=payment_id)
    if payment.status not in (S.PENDING, S.IN_DOUBT):
        return
    result = client.charge(key=payment.idempotency_key, order_id=str(payment.order_id),
                           customer_id=str(payment.order.customer_id), amount_minor=payment.amount_minor,
                           currency=payment.currency, method=payment.method)
    settle(payment.pk, result)
    refund_if_unpayable(payment.pk, client)


def _emit(payment: Payment, event_type: str, record: dict) -> None:
    record_event(event_type, str(payment.order_id), record, correlation_id=payment.correlation_id,
                 causation_id=payment.cause_event_id)


def settle(payment_id: uuid.UUID, result: ChargeResult) -> None:
    """Record what the gateway said. Opens its own transaction, locks the payment row; a payment
    already settled is left alone, so a late or repeated answer changes nothing."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status not in (S.PENDING, S.IN_DOUBT):
            return
        if result.outcome == "captured":
            payment.status, payment.gateway_transaction_id = S.CAPTURED, result.transaction_id
            _emit(payment, "PaymentCompleted", {
                "order_id": str(payment.order_id), "payment_id": str(payment.pk), "attempt": payment.attempt,
                "gateway_transaction_id": result.transaction_id, "method": payment.method,
                "amount_minor": payment.amount_minor, "currency": payment.currency})
        elif result.outcome == "declined":
            payment.status, payment.gateway_transaction_id = S.DECLINED, result.transaction_id
            payment.decline_code, payment.failure_reason = result.decline_code, "declined by the gateway"
            _emit(payment, "PaymentFailed", {
                "order_id": str(payment.order_id), "payment_id": str(payment.pk), "attempt": payment.attempt,
                "reason": "declined by the gateway", "decline_code": result.decline_code or None})
        elif result.outcome == "unknown":
            payment.status, payment.failure_reason = S.IN_DOUBT, result.detail[:300]
            log.warning("payment %s for order %s in doubt: %s", payment.pk, payment.order_id, result.detail)
        else:  # not_found: the charge never reached the gateway; stays PENDING to be sent again
            return
        payment.save()


def refund_if_unpayable(payment_id: uuid.UUID, client: GatewayClient) -> None:
    """Give the money back when a captured order can no longer be paid (cancelled meanwhile).
    Outside any transaction; the refund is idempotent at the gateway (one per charge)."""
    payment = Payment.objects.select_related("order").get(pk=payment_id)
    if payment.status != S.CAPTURED or OrderStatus(payment.order.status) not in UNPAYABLE:
        return
    reason = f"order {payment.order.status.lower()} before the payment was recorded"
    result = client.refund(payment.gateway_transaction_id, reason)
    if not result.refunded:
        log.warning("refund of payment %s failed, will retry: %s", payment.pk, result.detail)
        return
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status != S.CAPTURED:
            return
        payment.status, payment.refund_reason = S.REFUNDED, reason
        payment.save()
        _emit(payment, "PaymentRefunded", {
            "order_id": str(payment.order_id), "payment_id": str(payment.pk),
            "gateway_transaction_id": payment.gateway_transaction_id, "amount_minor": payment.amount_minor,
            "currency": payment.currency, "reason": reason})


def reconcile(client: GatewayClient, *, older_than: timedelta) -> int:
    """Resolve payments whose outcome we do not know yet, and refunds still owed. Returns how many
    payments were looked at. Outside any transaction."""
    cutoff = timezone.now() - older_than
    doubtful = list(Payment.objects.filter(status__in=[S.PENDING, S.IN_DOUBT], updated_at__lte=cutoff)
                    .values_list("pk", "idempotency_key")[:100])
    for payment_id, key in doubtful:
        known = client.lookup(key)
        if known.outcome == "not_found":
            charge(payment_id, client)  # never reached the gateway: send it (same key)
        elif known.outcome in ("captured", "declined"):
            settle(payment_id, known)
        else:
            Payment.objects.filter(pk=payment_id).update(updated_at=timezone.now())  # try again later
    owed = list(Payment.objects.filter(status=S.CAPTURED, order__status__in=[s.value for s in UNPAYABLE])
                .values_list("pk", flat=True)[:100])
    for payment_id in owed:
        refund_if_unpayable(payment_id, client)
    return len(doubtful) + len(owed)
