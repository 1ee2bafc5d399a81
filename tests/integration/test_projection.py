"""The orders table is a projection of the event store: rebuildable, and equal to a replay."""
from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from orders_site.orders.checkout import CheckoutLine, CheckoutRequest, place_order
from orders_site.orders.cancellation import cancel
from orders_site.orders.history import replay_all
from orders_site.orders.models import Order, OrderItem
from orders_site.orders.status import InvalidTransition, OrderStatus
from orders_site.orders.transitions import Cause, change_status

pytestmark = pytest.mark.usefixtures("catalog")


def snapshot() -> list[tuple]:
    return [(o.pk, o.number, o.status, o.status_reason, o.total_minor, o.version, o.created_at, o.updated_at,
             tuple((i.sku, i.quantity, i.unit_price_minor) for i in o.items.all()))
            for o in Order.objects.order_by("pk").prefetch_related("items")]


@pytest.fixture
def orders(alice) -> list[Order]:
    placed = [place_order(alice.user.pk, CheckoutRequest((CheckoutLine("KB-001", n + 1),), "card"))
              for n in range(5)]
    cause = Cause(event_id=uuid.uuid4(), event_type="StockHeld", correlation_id=uuid.uuid4())
    change_status(placed[0].pk, OrderStatus.STOCK_HELD, cause=cause)
    change_status(placed[0].pk, OrderStatus.PAYMENT_COMPLETED, cause=cause)
    change_status(placed[1].pk, OrderStatus.STOCK_REJECTED, cause=cause, reason="out of stock")
    cancel(placed[2].pk, reason="changed my mind", requested_by="alice")
    return placed


def test_replaying_the_event_store_gives_the_live_rows(orders: list[Order]) -> None:
    live = snapshot()
    replayed = sorted(((s.order_id, s.number, s.status.value, s.status_reason, s.total_minor, s.version,
                        s.created_at, s.updated_at, tuple((i.sku, i.quantity, i.unit_price_minor) for i in s.items))
                       for s in replay_all()), key=lambda r: r[0])
    assert replayed == live
    call_command("rebuild_orders", "--check", stdout=StringIO())  # agrees: does not raise


def test_rebuild_restores_a_damaged_projection(orders: list[Order]) -> None:
    # given the live tables, then damage done to them outside the services
    live = snapshot()
    Order.objects.filter(pk=orders[0].pk).update(status="ORDERED", version=1)
    OrderItem.objects.filter(order=orders[3]).delete()
    # when checked, the difference is reported; when rebuilt, the tables equal the live ones again
    with pytest.raises(CommandError, match="differs"):
        call_command("rebuild_orders", "--check", stdout=StringIO())
    out = StringIO()
    call_command("rebuild_orders", stdout=out)
    assert "2 differed (fixed)" in out.getvalue()
    assert snapshot() == live


def test_cancel_goes_through_the_state_machine(orders: list[Order]) -> None:
    assert Order.objects.get(pk=orders[2].pk).status == "CANCELLED"
    with pytest.raises(InvalidTransition):
        cancel(orders[1].pk, reason="too late", requested_by="alice")  # already rejected
    assert Order.objects.get(pk=orders[1].pk).status == "STOCK_REJECTED"
