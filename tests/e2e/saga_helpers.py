"""Helpers for saga tests: check out, wait for outcomes, talk to the gateway simulator, check books."""
from __future__ import annotations

import json
import time
import urllib.request
import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection

from orders_site.catalog.models import Stock
from orders_site.catalog.services import receive_product
from orders_site.notifications.models import Notification
from orders_site.orders.checkout import CheckoutLine, CheckoutRequest, place_order
from orders_site.orders.models import Order
from orders_site.orders.status import TERMINAL
from orders_site.payments.models import Payment
from orders_site.shipping.models import Delivery
from stack.components import CONSUMER_PROCESSES
from stack.harness import EmbeddedStack

CONSUMERS = CONSUMER_PROCESSES


def new_customer(prefix: str = "cust") -> Any:
    return get_user_model().objects.create(username=f"{prefix}-{uuid.uuid4().hex[:8]}")


def new_product(quantity: int, price: int = 1000) -> str:
    sku = f"P-{uuid.uuid4().hex[:8]}"
    receive_product(sku=sku, name=f"Product {sku}", price_minor=price, quantity=quantity)
    return sku


def checkout(customer: Any, sku: str, quantity: int = 1) -> Order:
    return place_order(customer.pk, CheckoutRequest((CheckoutLine(sku, quantity),), "card"))


def wait_final(order_ids: list[uuid.UUID], timeout: float = 60) -> dict[uuid.UUID, str]:
    """Wait until every order is in a terminal status; returns their statuses."""
    deadline = time.monotonic() + timeout
    terminal = [s.value for s in TERMINAL]
    while True:
        statuses = dict(Order.objects.filter(pk__in=order_ids).values_list("pk", "status"))
        if all(statuses.get(o) in terminal for o in order_ids) or time.monotonic() > deadline:
            return statuses
        connection.close()
        time.sleep(0.2)


def gateway(stack: EmbeddedStack, path: str, body: dict | None = None) -> Any:
    request = urllib.request.Request(f"http://{stack.cfg.gateway_host}:{stack.cfg.gateway_port}{path}",
                                     data=json.dumps(body).encode() if body is not None else None,
                                     method="POST" if body is not None else "GET",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def inject(stack: EmbeddedStack, customer: Any, *faults: str) -> None:
    gateway(stack, "/v1/_faults", {"customer_id": str(customer.pk), "faults": list(faults)})


def stock_of(sku: str) -> tuple[int, int, int, int]:
    s = Stock.objects.get(product__sku=sku)
    return s.initial, s.on_hand, s.reserved, s.sold


def books_balance(stack: EmbeddedStack, orders: list[Order]) -> list[str]:
    """Money and effects per order agree between our database and the gateway's ledger."""
    ledger = gateway(stack, "/v1/ledger")
    charges = {c["order_id"]: c for c in gateway(stack, "/v1/charges")["charges"] if c["status"] == "captured"}
    problems = []
    for order in orders:
        order.refresh_from_db()
        oid = str(order.pk)
        captures = ledger["captures_per_order"].get(oid, 0)
        if captures > 1:
            problems.append(f"{order.number}: captured {captures} times")
        paid = order.status in ("PAYMENT_COMPLETED", "DELIVERY_PREPARING")
        kept = captures == 1 and charges[oid]["refunded_minor"] == 0
        if paid != kept:
            problems.append(f"{order.number}: status {order.status} but gateway kept money={kept}")
        deliveries = Delivery.objects.filter(order=order).count()
        if deliveries != (1 if order.status == "DELIVERY_PREPARING" else 0):
            problems.append(f"{order.number}: {deliveries} deliveries in status {order.status}")
        if Notification.objects.filter(order=order).count() != (1 if order.status in
                                                                 [s.value for s in TERMINAL] else 0):
            problems.append(f"{order.number}: {Notification.objects.filter(order=order).count()} notifications")
        if Payment.objects.filter(order=order, status__in=["CAPTURED", "REFUNDED"]).count() > 1:
            problems.append(f"{order.number}: more than one captured payment row")
    return problems


def settle(stack: EmbeddedStack, orders: list[Order], sku: str, stock: tuple[int, int, int, int],
           timeout: float = 60) -> None:
    """Assert the books balance and the stock is `stock` once the saga's trailing effects (sale,
    release, notification) have been consumed; they follow the order's final status asynchronously."""
    deadline = time.monotonic() + timeout
    while True:
        problems = books_balance(stack, orders)
        if stock_of(sku) != stock:
            problems.append(f"stock (initial, on_hand, reserved, sold) = {stock_of(sku)}, expected {stock}")
        if not problems or time.monotonic() > deadline:
            break
        connection.close()
        time.sleep(0.3)
    assert problems == []
