"""Payment service: charge held orders through the gateway, resolve doubt, refund what must be."""
from __future__ import annotations

import os
from datetime import timedelta

from django.db import transaction

from orders_site.payments import services
from orders_site.payments.gateway_client import GatewayClient
from orders_site.payments.models import Payment

from .context import correlation, order_id
from .events import InboundEvent
from .runtime import Periodic, Service

SERVICE = Service(name="payment", topics=["shop.stock.events", "shop.order.events"])
client = GatewayClient()
# Ask about an unanswered charge once the client would certainly have given up on it.
RECONCILE_AFTER = timedelta(seconds=client.timeout + 1)


@SERVICE.handles("StockHeld")
def on_stock_held(event: InboundEvent) -> None:
    payment = services.start_payment(order_id(event), correlation_id=correlation(event), cause_event_id=event.event_id)
    if payment is None:
        return
    # The gateway is called after the attempt is committed, never inside the transaction. If this
    # process dies first, the reconciler finds the PENDING attempt and sends it (same key).
    transaction.on_commit(lambda: services.charge(payment.pk, client), robust=True)


@SERVICE.handles("OrderStatusChanged", when=lambda record: record["to_status"] == "CANCELLED")
def on_order_status_changed(event: InboundEvent) -> None:
    for payment_id in Payment.objects.filter(order_id=order_id(event), status=Payment.Status.CAPTURED).values_list(
            "pk", flat=True):
        transaction.on_commit(lambda pk=payment_id: services.refund_if_unpayable(pk, client), robust=True)


SERVICE.periodic.append(Periodic(float(os.environ.get("PAYMENT_RECONCILE_EVERY", "1.0")),
                                 lambda: services.reconcile(client, older_than=RECONCILE_AFTER)))
