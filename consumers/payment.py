"""Payment service: charge held orders through the gateway, resolve doubt, refund what must be."""
from __future__ import annotations

import os
from datetime import timedelta

from django.db import transaction

from orders_site.payments import services
from orders_site.payments.gateway_client import GatewayClient
from orders_site.payments.models import Payment

from .events import InboundEvent, cause_of, order_of
from .registry import Periodic, Service

SERVICE = Service(name="payment", topics=["shop.stock.events", "shop.order.events"])
client = GatewayClient()
# Gateway calls of one batch in flight at once: each waits on the network, not on our CPU.
CONCURRENCY = int(os.environ.get("PAYMENT_GATEWAY_CONCURRENCY", "8"))
# Ask about an unanswered charge once the client would certainly have given up on it.
RECONCILE_AFTER = timedelta(seconds=client.timeout + 1)


@SERVICE.handles("StockHeld")
def on_stock_held(events: list[InboundEvent]) -> None:
    waiting = services.start_payments([services.Start(order_of(e), cause_of(e)) for e in events])
    # The gateway is called after the attempts are committed, never inside the transaction. If this
    # process dies first, the reconciler finds the PENDING attempts and sends them (same keys).
    if waiting:
        transaction.on_commit(lambda: services.charge_all(waiting, client, concurrency=CONCURRENCY), robust=True)


@SERVICE.handles("OrderStatusChanged", when=lambda record: record["to_status"] == "CANCELLED")
def on_orders_cancelled(events: list[InboundEvent]) -> None:
    captured = list(Payment.objects.filter(order_id__in=[order_of(e) for e in events],
                                           status=Payment.Status.CAPTURED).values_list("pk", flat=True))
    if captured:
        transaction.on_commit(lambda: services.refund_unpayable(captured, client), robust=True)


SERVICE.periodic.append(Periodic(float(os.environ.get("PAYMENT_RECONCILE_EVERY", "1.0")),
                                 lambda: services.reconcile(client, older_than=RECONCILE_AFTER)))
