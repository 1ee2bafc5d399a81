"""An operator asks for an unresolved payment to be settled now instead of at the next sweep."""
from __future__ import annotations

import uuid

from orders_site.orders.models import Order
from orders_site.orders.status import OrderStatus, path_to

from . import services
from .gateway_client import GatewayClient
from .models import Payment

S = Payment.Status


class CannotRetry(ValueError):
    """The payment is settled, or its order can no longer be paid; the message says why."""


def why_not_retryable(payment_status: str, order_status: OrderStatus) -> str | None:
    """Why an operator's retry is refused, in words; None when allowed. Pure.

    A retry re-sends the recorded attempt with its idempotency key (the gateway cannot charge twice),
    so it is allowed only while the outcome is unknown and the order can still become paid. A declined
    payment is final: the order is PAYMENT_FAILED, its stock released, and the state machine has no
    way back; the customer places a new order.
    """
    if payment_status in (S.CAPTURED, S.REFUNDED):
        return f"the payment is {payment_status.lower()}: nothing to retry"
    if payment_status == S.DECLINED:
        return "a declined payment is final (the order is PAYMENT_FAILED and its stock released)"
    if not path_to(order_status, OrderStatus.PAYMENT_COMPLETED):  # "paid" may come before "stock held"
        return f"the order is {order_status.value}: it can no longer be paid"
    return None


def retry_payment(payment_id: uuid.UUID, client: GatewayClient) -> str:
    """Ask the gateway by key and settle what it knows, or send the attempt that never reached it.
    Must not run inside a transaction (it calls the gateway). Returns the payment's status after.

    Raises CannotRetry (with the reason) when not allowed; nothing is sent then.
    """
    payment = Payment.objects.get(pk=payment_id)
    reason = why_not_retryable(payment.status, OrderStatus(Order.objects.get(pk=payment.order_id).status))
    if reason:
        raise CannotRetry(reason)
    known = client.lookup(payment.idempotency_key)
    if known.outcome == "not_found":
        services.charge(payment.pk, client)
    elif known.outcome in ("captured", "declined"):
        services.settle(payment.pk, known)
    payment.refresh_from_db()
    return payment.status
