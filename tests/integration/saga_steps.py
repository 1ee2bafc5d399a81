"""Drive one order through the saga with the same service calls the consumers make, in order, so an
integration test reaches "paid", "delivery preparing" or "shipped" in its own transaction (the whole
consumer loop in-process is tests/integration/saga_driver.py)."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

from orders_site.catalog.reservations import Hold, Move, hold_stocks, release_stocks, sell_stocks
from orders_site.eventstore.cause import Cause
from orders_site.orders.models import Order
from orders_site.orders.saga import Result, apply_results
from orders_site.payments import services as payments
from orders_site.payments.gateway_client import GatewayClient
from orders_site.payments.models import Payment
from orders_site.shipping.services import Preparation, prepare_deliveries

from .saga_driver import gateway_simulator


def serve_gateway(tmp_path: Path) -> Iterator[GatewayClient]:
    """A client of the payment gateway simulator, running in a thread with its own ledger."""
    with gateway_simulator(tmp_path):
        from consumers import payment
        yield payment.client


def _cause(event_type: str) -> Cause:
    return Cause(uuid.uuid4(), event_type, uuid.uuid4())


def _result(order: Order, event_type: str) -> None:
    apply_results([Result(order.pk, event_type, "", _cause(event_type))])


def pay(order: Order, client: GatewayClient) -> Payment:
    """ORDERED -> stock held -> charged at the gateway -> PAYMENT_COMPLETED, stock sold."""
    hold_stocks([Hold(order.pk, [{"sku": i.sku, "quantity": i.quantity} for i in order.items.all()],
                      _cause("OrderCreated"))])
    _result(order, "StockHeld")
    waiting = payments.start_payments([payments.Start(order.pk, _cause("StockHeld"))])
    payments.charge(waiting[0], client)
    _result(order, "PaymentCompleted")
    sell_stocks([Move(order.pk, _cause("PaymentCompleted"))])
    return Payment.objects.get(order=order)


def prepare(order: Order, client: GatewayClient) -> Payment:
    """... -> DELIVERY_PREPARING (a delivery row exists)."""
    payment = pay(order, client)
    prepare_deliveries([Preparation(order.pk, _cause("PaymentCompleted"))])
    _result(order, "DeliveryPrepared")
    return payment


def react_to_cancellation(order: Order, client: GatewayClient) -> None:
    """What the stock and payment services do on OrderStatusChanged(to CANCELLED)."""
    release_stocks([Move(order.pk, _cause("OrderStatusChanged"), "order cancelled")])
    payments.refund_unpayable(list(Payment.objects.filter(order=order, status=Payment.Status.CAPTURED)
                                   .values_list("pk", flat=True)), client)
