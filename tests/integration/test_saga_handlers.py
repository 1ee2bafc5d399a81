"""Each service's batch handlers, through the real consumer loop, against the real database: whole
batches of events, duplicates, a poison event in the middle, results out of order, a cancellation
racing a payment. No broker: tests/integration/saga_driver.py feeds the event store's rows."""
from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from orders_site.catalog.models import Reservation, Stock
from orders_site.catalog.reservations import Hold, hold_stocks
from orders_site.catalog.services import receive_product
from orders_site.eventstore import avro
from orders_site.eventstore.cause import Cause
from orders_site.eventstore.models import StoredEvent
from orders_site.notifications.models import Notification
from orders_site.orders.checkout import CheckoutLine, CheckoutRequest, place_order
from orders_site.orders.cancellation import cancel
from orders_site.orders.models import Order

from orders_site.payments.models import Payment
from orders_site.shipping.models import Delivery
from tests.consumer_fakes import message_of

from .saga_driver import SagaDriver, gateway_simulator

pytestmark = pytest.mark.django_db(transaction=True)


def product(quantity: int) -> str:
    sku = f"P-{uuid.uuid4().hex[:8]}"
    receive_product(sku=sku, name=sku, price_minor=1000, quantity=quantity)
    return sku


def order(sku: str, quantity: int = 1, *lines: tuple[str, int]) -> Order:
    customer = get_user_model().objects.create(username=f"c-{uuid.uuid4().hex[:8]}")
    wanted = ((sku, quantity), *lines)
    return place_order(customer.pk, CheckoutRequest(tuple(CheckoutLine(s, q) for s, q in wanted), "card"))


def stock(sku: str) -> tuple[int, int, int]:
    s = Stock.objects.get(product__sku=sku)
    return s.on_hand, s.reserved, s.sold


def status(*orders: Order) -> list[str]:
    return [Order.objects.get(pk=o.pk).status for o in orders]


def test_a_batch_of_orders_runs_the_whole_saga(tmp_path: Path) -> None:
    # given twenty orders placed before any consumer ran
    sku = product(100)
    driver = SagaDriver()
    orders = [order(sku, 2) for _ in range(20)]
    # when every service takes its events in batches
    with gateway_simulator(tmp_path):
        driver.pump()
    # then every order is paid and on its way, stock is sold, each customer heard once
    assert set(status(*orders)) == {"DELIVERY_PREPARING"}
    assert stock(sku) == (60, 0, 40)
    assert Notification.objects.filter(order__in=orders).count() == 20
    assert driver.stats("stock").batches <= 3  # hold once, sell once: not one transaction per event
    # and each order's own events are numbered 1, 2, 3... with no gap, of which the progress statuses
    # (stock held, paid) are kept off the published stream and the outcome is published
    for o in orders:
        rows = list(StoredEvent.objects.filter(aggregate_type="order", aggregate_id=str(o.pk))
                    .order_by("sequence").values_list("sequence", "event_type", "published"))
        assert [r[0] for r in rows] == [1, 2, 3, 4]
        assert [(r[1], r[2]) for r in rows] == [("OrderCreated", True), ("OrderStatusChanged", False),
                                                ("OrderStatusChanged", False), ("OrderStatusChanged", True)]


def test_holds_in_one_batch_are_all_or_none_first_come_first_served() -> None:
    # given 10 units and orders for 3, 3, 5 (two lines), 3 and 1
    sku, other = product(10), product(1)
    driver = SagaDriver(("stock",))
    orders = [order(sku, 3), order(sku, 3), order(sku, 5, (other, 1)), order(sku, 3), order(sku, 1)]
    # when the stock service takes them as one batch
    driver.deliver("stock", driver.new_messages())
    # then the third cannot be had in full and holds nothing, not even its other line
    decided = dict(Reservation.objects.filter(order_id__in=[o.pk for o in orders]).values_list("order_id", "status"))
    assert [decided[o.pk] for o in orders] == ["HELD", "HELD", "REJECTED", "HELD", "HELD"]
    assert stock(sku) == (10, 10, 0) and stock(other) == (1, 0, 0)


def test_duplicates_inside_a_batch_are_applied_once() -> None:
    sku = product(10)
    driver = SagaDriver(("stock",))
    order(sku, 2)
    messages = driver.new_messages()
    driver.deliver("stock", messages + messages)  # the same OrderCreated twice in one batch
    driver.deliver("stock", messages)  # and once more later
    assert stock(sku) == (10, 2, 0)
    assert StoredEvent.objects.filter(event_type="StockHeld").count() == 1
    assert (driver.stats("stock").processed, driver.stats("stock").duplicates) == (1, 2)
    # the later copy was refused by the claim that rode along its batch's writes, then skipped
    assert driver.stats("stock").redelivered == 1


def test_a_poison_event_in_the_middle_is_dead_lettered_and_the_rest_commit() -> None:
    # given three results for the order service, the middle one about an order that does not exist
    sku = product(10)
    driver = SagaDriver(("stock", "order"))
    first, last = order(sku), order(sku)
    driver.deliver("stock", driver.new_messages())
    held = driver.new_messages()
    stray = StoredEvent.objects.filter(event_type="StockHeld").first()
    stray.event_id, stray.aggregate_id, stray.position = uuid.uuid4(), str(uuid.uuid4()), 0
    stray_message = message_of(stray)
    stray_message.value_ = avro.encode("StockHeld", {"order_id": stray.aggregate_id, "lines": []}).payload
    # when they arrive as one batch
    driver.deliver("order", [held[0], stray_message, held[1]])
    # then both real orders moved on and only the stray one was parked, with its reason
    assert status(first, last) == ["STOCK_HELD", "STOCK_HELD"]
    [parked] = driver.producer.produced
    assert parked["topic"] == "shop.dlq.order" and parked["key"] == stray.aggregate_id.encode()
    assert b"DoesNotExist" in parked["headers"]["dlq.exception"]
    assert driver.stats("order").splits >= 1


def test_results_out_of_order_imply_the_steps_before_them(tmp_path: Path) -> None:
    # given an order whose payment result reaches the order service before its stock result
    sku = product(10)
    driver = SagaDriver()
    o = order(sku)
    with gateway_simulator(tmp_path):
        driver.pump(skip=("order",))  # everything but the order service
    rows = StoredEvent.objects.filter(aggregate_id=str(o.pk), event_type__in=["StockHeld", "PaymentCompleted",
                                                                           "DeliveryPrepared"])
    by_type = {r.event_type: message_of(r) for r in rows}
    assert status(o) == ["ORDERED"]
    # when PaymentCompleted comes first, then DeliveryPrepared, and StockHeld last
    driver.deliver("order", [by_type["PaymentCompleted"]])
    driver.deliver("order", [by_type["DeliveryPrepared"], by_type["StockHeld"]])
    # then the order went through every status once, in order, and the late StockHeld changed nothing
    changes = [r.sequence for r in StoredEvent.objects.filter(aggregate_type="order", aggregate_id=str(o.pk))]
    assert status(o) == ["DELIVERY_PREPARING"] and sorted(changes) == [1, 2, 3, 4]


def test_a_cancellation_racing_the_payment_is_refunded_and_released(tmp_path: Path) -> None:
    # given an order whose stock is held and whose payment is about to be captured
    sku = product(10)
    driver = SagaDriver()
    o = order(sku, 4)
    with gateway_simulator(tmp_path):
        driver.pump(skip=("order", "delivery", "notification"))  # held, charged, sold; order not told
        assert Payment.objects.get(order=o).status == "CAPTURED" and stock(sku) == (6, 0, 4)
        # when the customer cancels before the order service heard of the payment
        cancel(o.pk, reason="changed my mind", requested_by="customer")
        driver.pump()
    # then the money went back, the units are on the shelf, and the customer heard exactly once
    assert status(o) == ["CANCELLED"]
    assert Payment.objects.get(order=o).status == "REFUNDED"
    assert stock(sku) == (10, 0, 0)
    assert list(Notification.objects.filter(order=o).values_list("kind", flat=True)) == ["ORDER_CANCELLED"]
    assert not Delivery.objects.filter(order=o).exists()


def test_concurrent_batches_over_the_same_products_never_oversell_or_deadlock() -> None:
    # given two products with 30 units each and two batches of two-line orders taking them in
    # opposite order, held by two transactions at once
    a, b = product(30), product(30)
    batches = [[Hold(uuid.uuid4(), [{"sku": a, "quantity": 2}, {"sku": b, "quantity": 2}], Cause.fresh())
                for _ in range(12)],
               [Hold(uuid.uuid4(), [{"sku": b, "quantity": 3}, {"sku": a, "quantity": 3}], Cause.fresh())
                for _ in range(12)]]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def hold(batch: list[Hold]) -> None:
        from django.db import transaction
        try:
            start.wait()
            with transaction.atomic():
                hold_stocks(batch)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)
        finally:
            connection.close()

    threads = [threading.Thread(target=hold, args=(batch,)) for batch in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # then no deadlock, no error, and never more held than there is, each order whole or nothing
    assert errors == []
    for sku in (a, b):
        on_hand, reserved, _ = stock(sku)
        assert on_hand == 30 and reserved <= 30
    held = Reservation.objects.filter(status="HELD").values_list("lines", flat=True)
    assert stock(a)[1] == sum(line["quantity"] for lines in held for line in lines if line["sku"] == a)
    assert Reservation.objects.count() == 24 and Reservation.objects.filter(status="REJECTED").exists()
