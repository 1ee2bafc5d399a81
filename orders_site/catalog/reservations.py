"""The stock service's writes: hold all of an order's lines or none, then sell or release them.

Every function requires the caller's transaction (the consumer's, which also holds the inbox claim),
locks the stock rows in primary-key order (no deadlock between two orders sharing products), and
appends its event in that same transaction. The reservation row makes each step happen once.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import F

from orders_site.eventstore.store import record_event

from .models import Reservation, Stock

R = Reservation.Status


@dataclass(frozen=True)
class Context:
    correlation_id: uuid.UUID
    cause_event_id: uuid.UUID


def _locked_stocks(skus: list[str]) -> dict[str, Stock]:
    rows = Stock.objects.select_for_update().select_related("product").filter(product__sku__in=skus)
    return {s.product.sku: s for s in rows.order_by("product_id")}


def _emit(event_type: str, order_id: uuid.UUID, record: dict, ctx: Context) -> None:
    record_event(event_type, str(order_id), record, correlation_id=ctx.correlation_id, causation_id=ctx.cause_event_id)


def hold_stock(order_id: uuid.UUID, lines: list[dict], ctx: Context) -> Reservation:
    """Reserve every line or none -> StockHeld / StockRejected. Requires: a transaction."""
    existing = Reservation.objects.filter(order_id=order_id).first()
    if existing:
        return existing  # decided before (e.g. replay after lost offsets)
    wanted = {line["sku"]: line["quantity"] for line in lines}
    stocks = _locked_stocks(sorted(wanted))
    short = [{"sku": sku, "requested": qty, "available": stocks[sku].available if sku in stocks else 0}
             for sku, qty in wanted.items() if sku not in stocks or stocks[sku].available < qty]
    plain_lines = [{"sku": sku, "quantity": qty} for sku, qty in wanted.items()]
    if short:
        reservation = Reservation.objects.create(order_id=order_id, status=R.REJECTED, lines=plain_lines)
        _emit("StockRejected", order_id, {"order_id": str(order_id), "reason": "insufficient stock",
                                          "lines": plain_lines, "unavailable": short}, ctx)
        return reservation
    for sku, stock in stocks.items():
        Stock.objects.filter(pk=stock.pk).update(reserved=F("reserved") + wanted[sku])
    reservation = Reservation.objects.create(order_id=order_id, status=R.HELD, lines=plain_lines)
    _emit("StockHeld", order_id, {"order_id": str(order_id), "lines": plain_lines}, ctx)
    return reservation


def _move(order_id: uuid.UUID, target: str, ctx: Context, **extra: object) -> bool:
    reservation = Reservation.objects.select_for_update().filter(order_id=order_id).first()
    # A sale is reversed only by a cancellation that raced the payment (the money is refunded too).
    movable = {R.HELD} | ({R.SOLD} if target == R.RELEASED else set())
    if reservation is None or reservation.status not in movable:
        return False  # nothing held (rejected, already released or sold): nothing to do
    stocks = _locked_stocks(sorted(line["sku"] for line in reservation.lines))
    for line in reservation.lines:
        qty = line["quantity"]
        if reservation.status == R.SOLD:  # back on the shelf
            change = {"on_hand": F("on_hand") + qty, "sold": F("sold") - qty}
        elif target == R.SOLD:
            change = {"reserved": F("reserved") - qty, "on_hand": F("on_hand") - qty, "sold": F("sold") + qty}
        else:
            change = {"reserved": F("reserved") - qty}
        Stock.objects.filter(pk=stocks[line["sku"]].pk).update(**change)
    reservation.status = target
    reservation.save(update_fields=["status", "updated_at"])
    event = "StockSold" if target == R.SOLD else "StockReleased"
    _emit(event, order_id, {"order_id": str(order_id), "lines": reservation.lines, **extra}, ctx)
    return True


def release_stock(order_id: uuid.UUID, reason: str, ctx: Context) -> bool:
    """Give held units back -> StockReleased. Requires: a transaction. False if nothing was held."""
    return _move(order_id, R.RELEASED, ctx, reason=reason)


def sell_stock(order_id: uuid.UUID, ctx: Context) -> bool:
    """Turn the hold into a sale -> StockSold. Requires: a transaction. False if nothing was held."""
    return _move(order_id, R.SOLD, ctx)
