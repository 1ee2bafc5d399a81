"""The order saga on the real stack: Postgres + Debezium + Apache Kafka + five consumer processes + the
gateway simulator. Each test uses its own customer and products, so tests do not interfere."""
from __future__ import annotations

import re
import threading
import time

import pytest
from django.db import connection

from orders_site.catalog.models import Reservation
from orders_site.eventstore.models import ProcessedEvent
from orders_site.notifications.models import Notification
from orders_site.orders.cancellation import cancel
from orders_site.orders.models import Order

from orders_site.payments.models import Payment
from stack.harness import EmbeddedStack, wait_for

from .saga_helpers import CONSUMERS, checkout, gateway, inject, new_customer, new_product, settle, wait_final

pytestmark = pytest.mark.e2e


def test_happy_path(saga: EmbeddedStack) -> None:
    customer, sku = new_customer(), new_product(5, price=2500)
    order = checkout(customer, sku, 2)
    assert wait_final([order.pk])[order.pk] == "DELIVERY_PREPARING"
    settle(saga, [order], sku, (5, 3, 0, 2))
    payment = Payment.objects.get(order=order)
    assert (payment.status, payment.amount_minor) == ("CAPTURED", 5000)
    assert list(Notification.objects.filter(order=order).values_list("kind", flat=True)) == ["ORDER_CONFIRMED"]


def test_out_of_stock_rejects_without_charging_or_holding(saga: EmbeddedStack) -> None:
    customer, sku = new_customer(), new_product(1)
    order = checkout(customer, sku, 2)
    assert wait_final([order.pk])[order.pk] == "STOCK_REJECTED"
    settle(saga, [order], sku, (1, 1, 0, 0))
    assert not Payment.objects.filter(order=order).exists()
    assert Reservation.objects.get(order_id=order.pk).status == "REJECTED"


def test_decline_fails_the_payment_and_restores_stock(saga: EmbeddedStack) -> None:
    customer, sku = new_customer(), new_product(3)
    inject(saga, customer, "decline")
    order = checkout(customer, sku, 2)
    assert wait_final([order.pk])[order.pk] == "PAYMENT_FAILED"
    settle(saga, [order], sku, (3, 3, 0, 0))
    assert Payment.objects.get(order=order).decline_code == "insufficient_funds"


@pytest.mark.parametrize("fault", ["lost", "hang", "error"])
def test_unknown_outcomes_are_reconciled_and_never_charged_twice(saga: EmbeddedStack, fault: str) -> None:
    # given a gateway that charges but never answers ("lost"), answers after the client gave up
    # ("hang"), or fails with a 5xx before charging ("error")
    customer, sku = new_customer(), new_product(3)
    injected_before = gateway(saga, "/v1/ledger")["faults_injected"][fault]
    inject(saga, customer, fault)
    order = checkout(customer, sku, 1)
    # then the fault fired and left the payment in doubt (never failed, never paid on a guess)...
    wait_for(lambda: Payment.objects.filter(order=order, status="IN_DOUBT").exists(), 30, "the payment in doubt")
    assert gateway(saga, "/v1/ledger")["faults_injected"][fault] == injected_before + 1
    # ...and the payment service asks the gateway by key (or charges again with the same key) and the
    # order completes, with exactly one capture
    assert wait_final([order.pk], timeout=90)[order.pk] == "DELIVERY_PREPARING"
    settle(saga, [order], sku, (3, 2, 0, 1))


def test_a_charge_for_an_order_cancelled_meanwhile_is_refunded(saga: EmbeddedStack) -> None:
    # given a charge in doubt (the gateway hangs past the client timeout, having charged)
    customer, sku = new_customer(), new_product(3)
    inject(saga, customer, "hang")
    order = checkout(customer, sku, 1)
    wait_for(lambda: Payment.objects.filter(order=order, status__in=["IN_DOUBT", "PENDING"]).exists(), 30,
             "the payment to be attempted")
    # when the customer cancels before the outcome is known
    cancel(order.pk, reason="too slow", requested_by=customer.username)
    # then the reconciler finds the capture, refunds it, and the stock goes back
    wait_for(lambda: Payment.objects.get(order=order).status == "REFUNDED", 60, "the refund")
    settle(saga, [order], sku, (3, 3, 0, 0))
    order.refresh_from_db()
    assert order.status == "CANCELLED"
    ledger = gateway(saga, "/v1/ledger")
    assert ledger["captures_per_order"][str(order.pk)] == 1


def test_64_concurrent_checkouts_over_http_for_10_units(saga: EmbeddedStack) -> None:
    # given 10 units, and 64 customers with API tokens, each buying one (most with a second line)
    import json
    import urllib.request

    from rest_framework.authtoken.models import Token

    saga.start_web()
    sku, plenty = new_product(10), new_product(1000)
    tokens = [Token.objects.create(user=new_customer("rush")).key for _ in range(64)]
    created: list[str] = []
    failures: list[str] = []
    barrier = threading.Barrier(64)

    def buy(n: int, token: str) -> None:
        items = [{"sku": sku, "quantity": 1}] + ([{"sku": plenty, "quantity": 1}] if n % 4 else [])
        request = urllib.request.Request(
            f"http://{saga.cfg.web_host}:{saga.cfg.web_port}/api/orders/", method="POST",
            data=json.dumps({"items": items, "payment_method": "card"}).encode(),
            headers={"Authorization": f"Token {token}", "Content-Type": "application/json",
                     "Idempotency-Key": f"rush-{n}"})
        try:
            barrier.wait()
            with urllib.request.urlopen(request, timeout=60) as response:
                created.append(json.loads(response.read())["id"])
        except Exception as err:  # noqa: BLE001 - reported by the assertion below
            failures.append(repr(err))

    # when they all check out over HTTP at once
    threads = [threading.Thread(target=buy, args=(n, t)) for n, t in enumerate(tokens)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert failures == [] and len(created) == 64
    orders = list(Order.objects.filter(pk__in=created))
    statuses = wait_final([o.pk for o in orders], timeout=120)
    # then exactly 10 are paid and on their way; the rest are rejected whole, their other line unheld
    outcome = sorted(statuses.values())
    assert outcome.count("DELIVERY_PREPARING") == 10 and outcome.count("STOCK_REJECTED") == 54
    settle(saga, orders, sku, (10, 0, 0, 10))
    paid_second_lines = sum(1 for o in orders if statuses[o.pk] == "DELIVERY_PREPARING" and o.items.count() == 2)
    settle(saga, orders, plenty, (1000, 1000 - paid_second_lines, 0, paid_second_lines))


def _stats(component) -> dict[str, int]:
    lines = [line for line in component.tail(2000).splitlines() if "stats processed=" in line]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[-1])} if lines else {}


def test_replaying_every_topic_changes_nothing(saga: EmbeddedStack) -> None:
    # given a settled history (the orders of earlier tests, plus one more)
    order = checkout(new_customer(), new_product(2), 1)
    wait_final([order.pk])
    time.sleep(3)  # let the last notifications and stock events be consumed
    def state() -> tuple:
        return (sorted(Order.objects.values_list("pk", "status", "version")),
                sorted(Payment.objects.values_list("pk", "status")), Notification.objects.count(),
                sorted(Reservation.objects.values_list("order_id", "status")),
                ProcessedEvent.objects.count(), gateway(saga, "/v1/ledger")["net_minor"],
                gateway(saga, "/v1/ledger")["captures"])
    before = state()
    from orders_site.eventstore.models import StoredEvent
    events_before = StoredEvent.objects.count()
    applied = {name: ProcessedEvent.objects.filter(consumer=name.split("-")[1]).count() for name in CONSUMERS}
    # when every consumer restarts in a fresh group, i.e. re-reads every topic from the beginning
    for name in CONSUMERS:
        saga[name].stop()
        saga[name].env["CONSUMER_GROUP_PREFIX"] = "replay"
        saga[name].start()
    try:
        for name in CONSUMERS:
            wait_for(lambda n=name: _stats(saga[n]).get("duplicates", 0) >= applied[n], 120,
                     f"{name} to re-read everything it had applied")
    except Exception:
        from .kafka_reader import collect
        for topic in ("shop.order.events", "shop.stock.events", "shop.payment.events", "shop.delivery.events"):
            got = collect(saga.cfg.kafka_bootstrap, topic, {"never"}, timeout=8)
            print(f"DIAG {topic}: {sum(got.counts.values())} records readable")
        for name in CONSUMERS:
            print(f"DIAG {name}: applied {applied[name]}, stats {_stats(saga[name])}")
        raise
    # then nothing changed: no new effects, events, charges or notifications
    assert state() == before
    assert StoredEvent.objects.count() == events_before


@pytest.mark.parametrize("victim", CONSUMERS)
def test_sigkill_of_a_consumer_mid_burst_loses_and_doubles_nothing(saga: EmbeddedStack, victim: str) -> None:
    # given a victim that commits its offsets rarely, so whatever it applies before the kill is
    # certain to come again (at the default 1 s, a commit can land between its last batch and the kill)
    saga[victim].stop()
    saga[victim].env["CONSUMER_COMMIT_INTERVAL_MS"] = "600000"
    saga[victim].start()
    # and a burst of orders flowing through the saga
    sku = new_product(30)
    customers = [new_customer("burst") for _ in range(40)]
    orders: list[Order] = []
    service = victim.split("-")[1]
    for n, customer in enumerate(customers):
        orders.append(checkout(customer, sku, 1))
        if n == 15:  # when one consumer dies without any clean-up, mid-burst, just after applying a batch
            applied = ProcessedEvent.objects.filter(consumer=service).count()
            wait_for(lambda: ProcessedEvent.objects.filter(consumer=service).count() > applied, 30,
                     f"{victim} to apply something")
            saga[victim].kill()
            saga[victim].env.pop("CONSUMER_COMMIT_INTERVAL_MS")
        if n == 25:  # and comes back
            saga[victim].start()
    # then every order reaches its outcome, exactly once in effect
    statuses = wait_final([o.pk for o in orders], timeout=120)
    assert sorted(statuses.values()).count("DELIVERY_PREPARING") == 30
    assert sorted(statuses.values()).count("STOCK_REJECTED") == 10
    settle(saga, orders, sku, (30, 0, 0, 30))
    # and the kill hit work in flight: the restarted consumer was handed events it had applied (their
    # offsets were not committed yet), and its inbox turned them into no-ops
    wait_for(lambda: _stats_since_restart(saga[victim]).get("duplicates", 0) > 0, 15,
             f"{victim} to report the duplicates it absorbed")


def _stats_since_restart(component) -> dict[str, int]:
    log = component.tail(5000).rsplit("===== start", 1)[-1]
    lines = [line for line in log.splitlines() if "stats processed=" in line]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[-1])} if lines else {}


def test_a_poison_message_is_dead_lettered_and_the_consumer_moves_on(saga: EmbeddedStack) -> None:
    # given an undecodable message on a topic the stock service reads, with a real order behind it
    import uuid as _uuid

    from confluent_kafka import Producer

    from .kafka_reader import collect

    poison_id = str(_uuid.uuid4())
    producer = Producer({"bootstrap.servers": saga.cfg.kafka_bootstrap})
    producer.produce("shop.order.events", key=b"poison", value=b"\xc3\x01garbage",
                     headers=[("id", poison_id.encode()), ("eventType", b"OrderCreated")])
    producer.flush(10)
    customer, sku = new_customer(), new_product(2)
    order = checkout(customer, sku, 1)
    # then it lands on the stock service's dead-letter topic with the reason and origin, and the
    # order behind it is processed normally
    got = collect(saga.cfg.kafka_bootstrap, "shop.dlq.stock", {poison_id}, timeout=60)
    headers = got.records[poison_id].headers
    assert headers["dlq.reason"] == b"poison" and headers["dlq.origin.topic"] == b"shop.order.events"
    assert b"UnknownSchema" in headers["dlq.exception"] or b"Malformed" in headers["dlq.exception"]
    assert got.records[poison_id].value == b"\xc3\x01garbage"
    assert wait_final([order.pk])[order.pk] == "DELIVERY_PREPARING"


def test_sigterm_finishes_cleanly(saga: EmbeddedStack) -> None:
    component = saga["consumer-delivery"]
    component.stop()
    assert component.proc.returncode == 0
    assert "consumer delivery stopped" in component.tail(50)


def test_invariants_hold_over_everything_the_e2e_session_did(saga: EmbeddedStack) -> None:
    # after the relay's crashes and broker restart and every saga scenario above (when run together):
    # nothing lost, nothing doubled, stock and money add up
    from datetime import timedelta

    from orders_site.audit.invariants import check_all

    gateway_url = f"http://{saga.cfg.gateway_host}:{saga.cfg.gateway_port}"
    deadline = time.monotonic() + 60
    while True:  # trailing effects of the last test may still be in flight
        findings = check_all(bootstrap=saga.cfg.kafka_bootstrap, gateway_url=gateway_url,
                             stuck_after=timedelta(seconds=0), published_settle=timedelta(0))
        if all(f.ok for f in findings) or time.monotonic() > deadline:
            break
        connection.close()
        time.sleep(1)
    assert [str(f) for f in findings if not f.ok] == []


def _groups_on_the_broker(stack: EmbeddedStack) -> set[str]:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": stack.cfg.kafka_bootstrap})
    listed = admin.list_consumer_groups(request_timeout=10).result()
    return {g.group_id for g in listed.valid if g.group_id.startswith("orders-")}


def test_broker_sigkill_under_saga_load_loses_nothing_and_orders_complete_soon_after(saga: EmbeddedStack) -> None:
    # given orders flowing through the saga
    sku = new_product(1000)
    customers = [new_customer("broker") for _ in range(10)]
    groups_before = _groups_on_the_broker(saga)
    starts_before = {name: saga[name].starts for name in CONSUMERS + ["relay"]}
    placed: list = []
    stop = threading.Event()

    def load() -> None:
        try:
            while not stop.is_set():
                placed.append(checkout(customers[len(placed) % len(customers)], sku, 1).pk)
                time.sleep(0.1)
        finally:
            connection.close()

    loader = threading.Thread(target=load)
    loader.start()
    try:
        time.sleep(3)
        # when the broker dies without any clean-up, and orders keep coming while it is down
        saga["broker"].kill()
        time.sleep(3)
        saga.start_broker()
        back = time.monotonic()
        time.sleep(2)
    finally:
        stop.set()
        loader.join()
    # then every order completes, within seconds of the broker's return
    statuses = wait_final(placed, timeout=60)
    completed_after = time.monotonic() - back
    print(f"\nbroker SIGKILL under load: {len(placed)} orders, all final {completed_after:.1f}s after the broker's return")
    assert set(statuses.values()) == {"DELIVERY_PREPARING"}, statuses
    assert completed_after <= 15
    orders = list(Order.objects.filter(pk__in=placed))
    settle(saga, orders, sku, (1000, 1000 - len(placed), 0, len(placed)))
    # and nothing had to start over: the same consumer groups, no process restarted
    assert _groups_on_the_broker(saga) == groups_before
    assert {name: saga[name].starts for name in starts_before} == starts_before
    assert all(saga[name].running for name in starts_before)
