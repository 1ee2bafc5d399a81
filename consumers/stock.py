"""Stock service: hold an order's lines (all or none), sell them when paid, release them otherwise."""
from __future__ import annotations

from orders_site.catalog.reservations import hold_stock, release_stock, sell_stock

from .context import order_id, stock_context
from .events import InboundEvent
from .runtime import Service

SERVICE = Service(name="stock", topics=["shop.order.events", "shop.payment.events"])


@SERVICE.handles("OrderCreated")
def on_order_created(event: InboundEvent) -> None:
    lines = [{"sku": i["sku"], "quantity": i["quantity"]} for i in event.record["items"]]
    hold_stock(order_id(event), lines, stock_context(event))


@SERVICE.handles("PaymentCompleted")
def on_payment_completed(event: InboundEvent) -> None:
    sell_stock(order_id(event), stock_context(event))


@SERVICE.handles("PaymentFailed")
def on_payment_failed(event: InboundEvent) -> None:
    release_stock(order_id(event), "payment failed", stock_context(event))


@SERVICE.handles("OrderStatusChanged", when=lambda record: record["to_status"] == "CANCELLED")
def on_order_status_changed(event: InboundEvent) -> None:
    release_stock(order_id(event), "order cancelled", stock_context(event))
