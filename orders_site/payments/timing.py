"""How long a payment took to settle, read from the event store (the payment row keeps no history)."""
from __future__ import annotations

from orders_site.eventstore.models import StoredEvent
from orders_site.pipeline.display import age, when

from .models import Payment

SETTLING = ("PaymentCompleted", "PaymentFailed")


def settled_after(payment: Payment) -> str:
    """'12 s after it was recorded (in doubt meanwhile: <reason>)', or 'not yet' for an open one."""
    settled = (StoredEvent.objects.filter(aggregate_type="payment", aggregate_id=str(payment.order_id),
                                          event_type__in=SETTLING).order_by("position").first())
    if settled is None:
        return f"not yet ({payment.status}, recorded {when(payment.created_at)})"
    took = age(payment.created_at, settled.occurred_at)
    doubt = f" (in doubt meanwhile: {payment.failure_reason})" if payment.failure_reason and \
        payment.status != Payment.Status.DECLINED else ""
    return f"{took} after it was recorded, at {when(settled.occurred_at)}{doubt}"
