"""Stock service: hold an order's lines (all or none), sell them when paid, release them otherwise."""
from __future__ import annotations

from orders_site.catalog.reservations import Hold, Move, hold_stocks, release_stocks, sell_stocks

from .events import InboundEvent, cause_of, order_of
from .registry import Service

SERVICE = Service(name="stock", topics=["shop.order.events", "shop.payment.events"])


@SERVICE.handles("OrderCreated")
def on_orders_created(events: list[InboundEvent]) -> None:
    hold_stocks([Hold(order_of(e), [{"sku": i["sku"], "quantity": i["quantity"]} for i in e.record["items"]],
                      cause_of(e)) for e in events])


@SERVICE.handles("PaymentCompleted")
def on_payments_completed(events: list[InboundEvent]) -> None:
    sell_stocks([Move(order_of(e), cause_of(e)) for e in events])


@SERVICE.handles("PaymentFailed")
def on_payments_failed(events: list[InboundEvent]) -> None:
    release_stocks([Move(order_of(e), cause_of(e), "payment failed") for e in events])


@SERVICE.handles("OrderStatusChanged", when=lambda record: record["to_status"] == "CANCELLED")
def on_orders_cancelled(events: list[InboundEvent]) -> None:
    release_stocks([Move(order_of(e), cause_of(e), "order cancelled") for e in events])
