"""Money and stock rules the database enforces whatever the code does."""
from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, transaction
from django.db.models import F

from orders_site.catalog.models import Stock
from orders_site.orders.checkout import CheckoutLine, CheckoutRequest, place_order
from orders_site.payments.models import Payment

pytestmark = pytest.mark.usefixtures("catalog")


@pytest.mark.parametrize("change", [
    {"on_hand": F("on_hand") - 11},          # below zero
    {"reserved": F("on_hand") + 1},          # more reserved than on hand
    {"reserved": -1},
    {"sold": -1},
])
def test_stock_can_never_go_negative_or_over_reserved(change: dict) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Stock.objects.filter(product__sku="MN-003").update(**change)
    stock = Stock.objects.get(product__sku="MN-003")
    assert (stock.on_hand, stock.reserved, stock.sold) == (10, 0, 0)


def test_an_order_can_be_captured_only_once(alice) -> None:
    order = place_order(alice.user.pk, CheckoutRequest((CheckoutLine("KB-001", 1),), "card"))
    common = dict(order=order, method="card", amount_minor=order.total_minor, currency="USD",
                  correlation_id=uuid.uuid4(), cause_event_id=uuid.uuid4())
    Payment.objects.create(attempt=1, idempotency_key=f"{order.pk}:1", status=Payment.Status.CAPTURED, **common)
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.create(attempt=2, idempotency_key=f"{order.pk}:2", status=Payment.Status.CAPTURED, **common)
    # a declined second attempt is fine: only captures are unique
    Payment.objects.create(attempt=2, idempotency_key=f"{order.pk}:2", status=Payment.Status.DECLINED, **common)
