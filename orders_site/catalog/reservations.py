"""The stock service's writes: hold all of an order's lines or none, then sell or release them.

Each function takes a whole batch of orders, requires the caller's transaction (the consumer's,
which also holds the inbox claims), locks the stock rows it touches in one statement in primary-key
order (two holds sharing products never deadlock; a hold and a sale or release of one consumer batch
lock in two statements, so two members of the stock group can deadlock, which PostgreSQL breaks and the
runtime retries as a transient error), reads with a few set-based statements and
writes the batch's rows and its events in one statement, in that same transaction. The reservation row
makes each step happen once per order.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

from django.db import connection

from orders_site.dbbackend import arrays
from orders_site.eventstore.cause import Cause
from orders_site.eventstore.store import NewEvent, Write, append_events, new_caused_event

from .models import Reservation

R = Reservation.Status


@dataclass(frozen=True)
class Hold:
    """Hold these lines for the order, all or none."""

    order_id: uuid.UUID
    lines: list[dict]  # [{"sku": ..., "quantity": ...}]
    cause: Cause


@dataclass(frozen=True)
class Move:
    """Sell or release what is held for the order."""

    order_id: uuid.UUID
    cause: Cause
    reason: str = ""


@dataclass
class _Stock:
    product_id: int
    on_hand: int
    reserved: int
    delta: dict[str, int] = field(default_factory=lambda: {"on_hand": 0, "reserved": 0, "sold": 0})

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


def _lock_stocks(skus: set[str]) -> dict[str, _Stock]:
    """Lock the stock rows of `skus` (primary-key order) and read them."""
    with connection.cursor() as cur:
        cur.execute("SELECT p.sku, s.product_id, s.on_hand, s.reserved FROM stocks s"
                    " JOIN products p ON p.id = s.product_id WHERE p.sku = ANY(%b::text[])"
                    " ORDER BY s.product_id FOR UPDATE OF s", [arrays.texts(sorted(skus))])
        return {sku: _Stock(pid, on_hand, reserved) for sku, pid, on_hand, reserved in cur.fetchall()}


def _stock_changes(stocks: dict[str, _Stock]) -> Write | None:
    changed = [s for s in stocks.values() if any(s.delta.values())]
    if not changed:
        return None
    return Write("UPDATE stocks SET on_hand = stocks.on_hand + v.on_hand, reserved = stocks.reserved + v.reserved,"
                 " sold = stocks.sold + v.sold"
                 " FROM unnest(%b::bigint[], %b::int[], %b::int[], %b::int[]) AS v(id, on_hand, reserved, sold)"
                 " WHERE stocks.product_id = v.id",
                 [arrays.ints(s.product_id for s in changed), arrays.ints(s.delta["on_hand"] for s in changed),
                  arrays.ints(s.delta["reserved"] for s in changed), arrays.ints(s.delta["sold"] for s in changed)])


@dataclass
class _Reservation:
    order_id: uuid.UUID
    status: str
    lines: list[dict]


def _new_reservations(rows: list[tuple[uuid.UUID, str, list[dict]]]) -> Write:
    # Plain SQL here and in the reads: Reservation models built and saved by the ORM were a fifth of
    # the stock consumer's CPU (docs/benchmarks.md, "Saga, third pass").
    return Write(f"INSERT INTO {Reservation._meta.db_table} (order_id, status, lines, created_at, updated_at)"
                 " SELECT r.order_id, r.status, r.lines::jsonb, now(), now()"
                 " FROM unnest(%b::uuid[], %b::text[], %b::text[]) AS r(order_id, status, lines)",
                 [arrays.uuids(r[0] for r in rows), arrays.texts(r[1] for r in rows),
                  arrays.texts(json.dumps(r[2]) for r in rows)])


def hold_stocks(holds: list[Hold]) -> dict[uuid.UUID, str]:
    """Reserve every line of each order or none -> StockHeld / StockRejected, first come first
    served in list order. Requires: a transaction. Returns the decision per order of the list; an
    order decided before (e.g. a replay) keeps its decision and emits nothing."""
    with connection.cursor() as cur:
        cur.execute(f"SELECT order_id, status FROM {Reservation._meta.db_table} WHERE order_id = ANY(%b::uuid[])",
                    [arrays.uuids(h.order_id for h in holds)])
        decided = dict(cur.fetchall())
    todo: list[Hold] = []
    for hold in holds:
        if hold.order_id not in decided:
            decided[hold.order_id] = ""  # the first of two holds for one order in a batch wins
            todo.append(hold)
    if not todo:
        return decided
    stocks = _lock_stocks({line["sku"] for hold in todo for line in hold.lines})
    rows: list[tuple[uuid.UUID, str, list[dict]]] = []
    events: list[NewEvent] = []
    for hold in todo:
        wanted = {line["sku"]: line["quantity"] for line in hold.lines}
        plain = [{"sku": sku, "quantity": qty} for sku, qty in wanted.items()]
        short = [{"sku": sku, "requested": qty, "available": stocks[sku].available if sku in stocks else 0}
                 for sku, qty in wanted.items() if sku not in stocks or stocks[sku].available < qty]
        order = str(hold.order_id)
        if short:
            decided[hold.order_id] = R.REJECTED
            events.append(new_caused_event("StockRejected", order, {
                "order_id": order, "reason": "insufficient stock", "lines": plain, "unavailable": short}, hold.cause))
        else:
            decided[hold.order_id] = R.HELD
            for sku, qty in wanted.items():
                stocks[sku].reserved += qty
                stocks[sku].delta["reserved"] += qty
            events.append(new_caused_event("StockHeld", order, {"order_id": order, "lines": plain}, hold.cause))
        rows.append((hold.order_id, decided[hold.order_id], plain))
    append_events(events, along=[_stock_changes(stocks), _new_reservations(rows)])
    return decided


def _move(moves: list[Move], target: str) -> set[uuid.UUID]:
    ids = sorted({m.order_id for m in moves})
    with connection.cursor() as cur:
        cur.execute(f"SELECT order_id, status, lines FROM {Reservation._meta.db_table}"
                    " WHERE order_id = ANY(%b::uuid[]) ORDER BY order_id FOR UPDATE", [arrays.uuids(ids)])
        # Django loads jsonb as text (its JSONField decodes it), so the lines are parsed here.
        reservations = {order_id: _Reservation(order_id, status, json.loads(lines))
                        for order_id, status, lines in cur.fetchall()}
    # A sale is reversed only by a cancellation that raced the payment (the money is refunded too).
    movable = {R.HELD} | ({R.SOLD} if target == R.RELEASED else set())
    todo = []
    for move in moves:
        reservation = reservations.get(move.order_id)
        if reservation is None or reservation.status not in movable:
            continue  # nothing held (rejected, already released or sold): nothing to do
        todo.append((move, reservation, reservation.status))
        reservation.status = target  # a second move of the same order in this batch sees it
    if not todo:
        return set()
    stocks = _lock_stocks({line["sku"] for _, r, _ in todo for line in r.lines})
    events: list[NewEvent] = []
    for move, reservation, was in todo:
        for line in reservation.lines:
            delta, qty = stocks[line["sku"]].delta, line["quantity"]
            if was == R.SOLD:  # back on the shelf
                delta["on_hand"] += qty
                delta["sold"] -= qty
            elif target == R.SOLD:
                delta["reserved"] -= qty
                delta["on_hand"] -= qty
                delta["sold"] += qty
            else:
                delta["reserved"] -= qty
        order = str(move.order_id)
        record = {"order_id": order, "lines": reservation.lines}
        if target == R.SOLD:
            events.append(new_caused_event("StockSold", order, record, move.cause))
        else:
            events.append(new_caused_event("StockReleased", order, record | {"reason": move.reason}, move.cause))
    moved = sorted({m.order_id for m, _, _ in todo})
    append_events(events, along=[
        _stock_changes(stocks),
        Write(f"UPDATE {Reservation._meta.db_table} SET status = %s, updated_at = now() WHERE order_id = ANY(%b::uuid[])",
              [target, arrays.uuids(moved)])])
    return set(moved)


def release_stocks(moves: list[Move]) -> set[uuid.UUID]:
    """Give held (or sold) units back -> StockReleased. Requires: a transaction. Returns the
    orders whose stock moved (not those with nothing held)."""
    return _move(moves, R.RELEASED)


def sell_stocks(moves: list[Move]) -> set[uuid.UUID]:
    """Turn holds into sales -> StockSold. Requires: a transaction. Returns the orders sold."""
    return _move(moves, R.SOLD)
