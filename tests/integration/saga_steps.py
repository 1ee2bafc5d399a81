"""Drive an order through the saga in-process: the same service calls the consumers make, in order,
so integration tests reach "paid", "delivery preparing" or "shipped" without nine processes."""
from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

from gateway.__main__ import Handler
from gateway.faults import FaultPlan
from gateway.ledger import Ledger
from orders_site.catalog.reservations import Hold, Move, hold_stocks, release_stocks, sell_stocks
from orders_site.eventstore.cause import Cause
from orders_site.orders.models import Order
from orders_site.orders.saga import Result, apply_results
from orders_site.payments import services as payments
from orders_site.payments.gateway_client import GatewayClient
from orders_site.payments.models import Payment
from orders_site.shipping.services import Preparation, prepare_deliveries


def serve_gateway(tmp_path: Path) -> Iterator[GatewayClient]:
    """The payment gateway simulator on a free port, in a thread, with its own ledger."""
    Handler.ledger = Ledger(tmp_path / "ledger.sqlite3")
    Handler.faults = FaultPlan(hang_ms=1500)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield GatewayClient(f"http://127.0.0.1:{server.server_address[1]}", timeout=1)
    server.shutdown()


def _result(order: Order, event_type: str) -> None:
    apply_results([Result(order.pk, event_type, "", _cause(event_type))])


def _cause(event_type: str | None = None) -> Cause:
    return Cause(uuid.uuid4(), event_type, uuid.uuid4())


def pay(order: Order, client: GatewayClient) -> Payment:
    """ORDERED -> stock held -> charged at the gateway -> PAYMENT_COMPLETED, stock sold."""
    hold_stocks([Hold(order.pk, [{"sku": i.sku, "quantity": i.quantity} for i in order.items.all()], _cause())])
    _result(order, "StockHeld")
    [payment_id] = payments.start_payments([payments.Start(order.pk, _cause("StockHeld"))])
    payments.charge(payment_id, client)
    _result(order, "PaymentCompleted")
    sell_stocks([Move(order.pk, _cause("PaymentCompleted"))])
    return Payment.objects.get(pk=payment_id)


def prepare(order: Order, client: GatewayClient) -> Payment:
    """... -> DELIVERY_PREPARING (a delivery row exists)."""
    payment = pay(order, client)
    prepare_deliveries([Preparation(order.pk, _cause("PaymentCompleted"))])
    _result(order, "DeliveryPrepared")
    return payment


def react_to_cancellation(order: Order, client: GatewayClient) -> None:
    """What the stock and payment consumers do on OrderStatusChanged(to CANCELLED)."""
    release_stocks([Move(order.pk, _cause("OrderStatusChanged"), "order cancelled")])
    for payment_id in Payment.objects.filter(order=order, status=Payment.Status.CAPTURED).values_list("pk", flat=True):
        payments.refund_if_unpayable(payment_id, client)
