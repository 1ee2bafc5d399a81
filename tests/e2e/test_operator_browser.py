"""The operator's day in a real browser (Debian's Chromium driven by Playwright): find an order by
number, read its timeline, cancel and refund it, re-drive a dead letter from the pipeline page.
Plus pipeline_status and `dlq` against the same live stack."""
from __future__ import annotations

import io
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from confluent_kafka import Producer
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from orders_site.eventstore.models import StoredEvent
from orders_site.payments.models import Payment
from stack.harness import EmbeddedStack

from .saga_helpers import checkout, new_customer, new_product, wait_final

pytestmark = pytest.mark.e2e
CHROMIUM = "/usr/bin/chromium"


def park_dead_letter(stack: EmbeddedStack, event: StoredEvent) -> None:
    """Put a real event on shop.dlq.stock as the consumer runtime would (its headers plus the dlq.* ones)."""
    headers = [("id", str(event.event_id).encode()), ("eventType", event.event_type.encode()),
               ("sequence", str(event.sequence).encode()), ("correlationId", str(event.correlation_id).encode()),
               ("dlq.reason", b"handler failed repeatedly"), ("dlq.exception", b"RuntimeError: simulated"),
               ("dlq.consumer", b"stock"), ("dlq.origin.topic", b"shop.order.events"),
               ("dlq.origin.partition", b"0"), ("dlq.origin.offset", b"0")]
    producer = Producer({"bootstrap.servers": stack.cfg.kafka_bootstrap})
    producer.produce("shop.dlq.stock", key=event.aggregate_id.encode(), value=bytes(event.payload), headers=headers)
    assert producer.flush(30) == 0


def wait_refunded(order_pk, timeout: float = 60) -> str:
    """The payment's status once refunded (or after `timeout`). Runs in a thread of its own: the
    Playwright sync API keeps an event loop in the test's thread, where Django refuses the ORM."""
    def poll() -> str:
        deadline = time.monotonic() + timeout
        try:
            while True:
                status = Payment.objects.get(order_id=order_pk).status
                if status == "REFUNDED" or time.monotonic() > deadline:
                    return status
                time.sleep(0.3)
        finally:
            connection.close()
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(poll).result()


def test_the_operator_finds_cancels_refunds_and_redrives_in_a_browser(saga: EmbeddedStack) -> None:
    from playwright.sync_api import sync_playwright

    # given a paid order, a dead letter and a staff user
    order = checkout(new_customer("browser"), new_product(5, price=4200), 1)
    assert wait_final([order.pk])[order.pk] == "DELIVERY_PREPARING"
    parked = StoredEvent.objects.get(aggregate_id=str(order.pk), event_type="OrderCreated")
    park_dead_letter(saga, parked)
    # Hashed as the web process checks it (the test settings use a fast hasher it does not know).
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"]):
        get_user_model().objects.create_superuser("operator", "op@example.com", "operator-password")
    connection.close()
    saga.start_web()
    base = f"http://{saga.cfg.web_host}:{saga.cfg.web_port}"

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})

        def snap(name: str) -> None:  # screenshots for a post-mortem, kept with the test's data when asked
            if os.environ.get("ORDERS_KEEP_TEST_DATA") == "1":
                page.screenshot(path=str(saga.cfg.log_dir / f"browser-{name}.png"), full_page=True)
        try:
            page.goto(f"{base}/admin/login/?next=/admin/")
            page.fill("#id_username", "operator")
            page.fill("#id_password", "operator-password")
            with page.expect_navigation():
                page.click("input[type=submit]")
            assert "Site administration" in page.inner_text("body"), page.inner_text("body")[:2000]

            # find the order by its number
            page.goto(f"{base}/admin/orders/order/")
            page.fill("#searchbar", order.number)
            with page.expect_navigation():
                page.press("#searchbar", "Enter")
            with page.expect_navigation():
                page.click(f"#result_list a:text('{order.number}')")
            body = page.inner_text("body")
            assert "DELIVERY_PREPARING" in body and "42.00 USD" in body

            # read its timeline: events named, causes linked, one timestamp format
            timeline = page.inner_text("table.timeline")
            for event_type in ("OrderCreated", "StockHeld", "PaymentCompleted", "DeliveryPrepared"):
                assert event_type in timeline
            assert "order as of this event" in timeline and " UTC" in timeline
            assert page.locator("table.timeline a[href^='#event-']").count() >= 3
            # nothing clipped or pushed off the right edge at 1400 px: payloads wrap
            assert page.evaluate("document.documentElement.scrollWidth") <= 1400
            snap("timeline")

            # cancel and refund it
            with page.expect_navigation():
                page.click("text=Cancel and refund")
            page.fill("#id_reason", "customer called")
            with page.expect_navigation():
                page.click("input[type=submit][value='Cancel and refund']")
            assert "cancelled; a captured payment is refunded" in page.inner_text("body")
            assert "CANCELLED" in page.inner_text("body")
            assert wait_refunded(order.pk) == "REFUNDED"
            page.reload()
            assert "refunded: " in page.inner_text("body")
            page.goto(f"{base}/admin/orders/order/{order.pk}/history/")
            assert "Cancel and refund (reason=customer called): now CANCELLED" in page.inner_text("body")

            # re-drive the dead letter from the pipeline page
            page.goto(f"{base}/admin/pipeline/")
            cells = page.locator("#dead-letters tr:has-text('shop.dlq.stock') td").all_inner_texts()
            # ours waits (earlier tests of the session may have parked letters there too)
            assert cells[:2] == ["stock", "shop.dlq.stock"] and int(cells[2]) >= 1
            waiting, redriven = int(cells[2]), int(cells[3])
            assert "RUNNING" in page.inner_text("#connector-state")
            with page.expect_navigation():
                page.click("text=browse stock")
            assert "RuntimeError: simulated" in page.inner_text("#letters")
            with page.expect_navigation():
                # our letter's row (it shows the event's id), not another test's
                page.locator(f"#letters tr:has-text('{parked.event_id}') input[type=submit]").last.click()
            assert "sent to shop.order.events" in page.inner_text("body")
            assert "re-driven: sent to shop.order.events" in page.inner_text("#letters")
            snap("dead-letters")
            page.goto(f"{base}/admin/pipeline/")
            cells = page.locator("#dead-letters tr:has-text('shop.dlq.stock') td").all_inner_texts()
            assert cells[:4] == ["stock", "shop.dlq.stock", str(waiting - 1), str(redriven + 1)]  # ours re-driven
            snap("pipeline")
        finally:
            browser.close()


def test_pipeline_status_and_dlq_commands_on_the_live_stack(saga: EmbeddedStack) -> None:
    order = checkout(new_customer("status"), new_product(5), 1)
    wait_final([order.pk])
    with override_settings(KAFKA_BOOTSTRAP_SERVERS=saga.cfg.kafka_bootstrap, KAFKA_CONNECT_URL=saga.cfg.connect_url):
        park_dead_letter(saga, StoredEvent.objects.get(aggregate_id=str(order.pk), event_type="OrderCreated"))
        out, err = io.StringIO(), io.StringIO()
        with pytest.raises(SystemExit) as exit_code:
            call_command("pipeline_status", stdout=out, stderr=err)
        assert exit_code.value.code == 1
        assert "orders-outbox: RUNNING" in out.getvalue() and "active=True" in out.getvalue()
        assert "UNHEALTHY: shop.dlq.stock holds" in err.getvalue()
        listing = io.StringIO()
        call_command("dlq", "list", "stock", stdout=listing)
        line = [l for l in listing.getvalue().splitlines() if "RuntimeError: simulated" in l][-1]
        partition, offset = line.split()[0].split("@")
        redriven = io.StringIO()
        call_command("dlq", "redrive", "stock", partition, offset, stdout=redriven)
        assert "sent to shop.order.events" in redriven.getvalue()

        # a message that still does not decode stays on the dead-letter topic, with the new cause
        producer = Producer({"bootstrap.servers": saga.cfg.kafka_bootstrap})
        producer.produce(
            "shop.dlq.stock", key=b"k", value=b"\xc3\x01garbage", headers=[
                ("id", str(order.pk).encode()), ("eventType", b"OrderCreated"), ("dlq.reason", b"poison"),
                ("dlq.origin.topic", b"shop.order.events")])
        assert producer.flush(30) == 0
        listing = io.StringIO()
        call_command("dlq", "list", "stock", stdout=listing)
        poison = [l for l in listing.getvalue().splitlines() if " poison" in l][-1]
        partition, offset = poison.split()[0].split("@")
        with pytest.raises(SystemExit):
            call_command("dlq", "redrive", "stock", partition, offset, stdout=io.StringIO())
        listing = io.StringIO()
        call_command("dlq", "list", "stock", stdout=listing)
        assert "re-drive refused: still undecodable" in listing.getvalue()
