"""The system's promises, checked from the evidence: database, broker and the gateway's ledger.

"Nothing lost, nothing doubled, money and stock always add up." Each check returns a Finding with
counts and the offending ids; `check_all` runs them all. Read-only.
"""
from __future__ import annotations

import json
import os
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from django.conf import settings
from django.db import connection
from django.utils import timezone

from orders_site.catalog.models import Reservation, Stock
from orders_site.eventstore.models import StoredEvent
from orders_site.orders.models import Order
from orders_site.orders.status import PAID as PAID_STATUSES, TERMINAL

PAID = tuple(sorted(s.value for s in PAID_STATUSES))


@dataclass
class Finding:
    name: str
    ok: bool
    summary: str
    offenders: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        more = f"\n       offenders: {', '.join(self.offenders[:20])}" + (" ..." if len(self.offenders) > 20 else "") \
            if self.offenders else ""
        return f"[{mark}] {self.name}: {self.summary}{more}"


def check_orders_settled(stuck_after: timedelta) -> Finding:
    terminal = [s.value for s in TERMINAL]
    open_orders = list(Order.objects.exclude(status__in=terminal).values_list("number", "status", "created_at"))
    now = timezone.now()
    stuck = [f"{n} ({s}, {int((now - c).total_seconds())}s old)" for n, s, c in open_orders if now - c > stuck_after]
    total = Order.objects.count()
    return Finding("orders reach a terminal state", not stuck,
                   f"{total} orders, {total - len(open_orders)} terminal, {len(open_orders) - len(stuck)} in progress, "
                   f"{len(stuck)} stuck longer than {int(stuck_after.total_seconds())}s", stuck)


def published_event_ids(bootstrap: str, timeout: float = 30) -> set[str]:
    """Every event id on every shop.<aggregate>.events topic, read from the beginning."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"audit-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 5})
    try:
        topics = [t for t in consumer.list_topics(timeout=10).topics if t.startswith("shop.") and t.endswith(".events")]
        parts = [TopicPartition(t, p, OFFSET_BEGINNING) for t in topics
                 for p in consumer.list_topics(t, timeout=10).topics[t].partitions]
        consumer.assign(parts)
        ids: set[str] = set()
        idle_since = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = consumer.consume(5000, 0.5)
            if not batch:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 2:  # nothing more arrives: read to the end
                    break
                continue
            idle_since = None
            for msg in batch:
                if not msg.error():
                    ids.update(v.decode() for k, v in (msg.headers() or []) if k == "id" and v)
        return ids
    finally:
        consumer.close()


def check_published(bootstrap: str, settle: timedelta = timedelta(seconds=10), *,
                    read: Callable[[str], set[str]] = published_event_ids) -> Finding:
    """Committed published events older than `settle` (time for the relay) must be on their topic.

    A final check after the load has stopped passes settle=0: then every committed event counts,
    the newest included. `read` gives the event ids on the broker (injectable for tests).
    """
    cutoff = timezone.now() - settle
    on_kafka = read(bootstrap)
    stored = set(str(e) for e in StoredEvent.objects.filter(published=True, occurred_at__lte=cutoff)
                 .values_list("event_id", flat=True))
    missing = sorted(stored - on_kafka)
    return Finding("every committed event reached its topic", not missing,
                   f"{len(stored)} committed events checked, {len(missing)} missing on the broker", missing)


def check_sequences() -> Finding:
    with connection.cursor() as cur:
        cur.execute("SELECT aggregate_type, aggregate_id, count(*), max(sequence) FROM event_store "
                    "GROUP BY 1, 2 HAVING count(*) <> max(sequence) OR min(sequence) <> 1")
        gaps = [f"{t}/{a} ({n} events, max #{m})" for t, a, n, m in cur.fetchall()]
        cur.execute("SELECT count(DISTINCT (aggregate_type, aggregate_id)) FROM event_store")
        aggregates = cur.fetchone()[0]
    return Finding("each aggregate's sequence is gapless", not gaps, f"{aggregates} aggregates, {len(gaps)} with gaps",
                   gaps)


def check_effects_once() -> Finding:
    """No consumer applied an event twice: each effect event exists at most once per order."""
    with connection.cursor() as cur:
        cur.execute("SELECT aggregate_id, event_type, count(*) FROM event_store WHERE event_type IN "
                    "('StockHeld','StockRejected','StockSold','PaymentCompleted','PaymentFailed','PaymentRefunded',"
                    "'DeliveryPrepared') GROUP BY 1, 2 HAVING count(*) > 1")
        doubled = [f"{a}: {t} x{n}" for a, t, n in cur.fetchall()]
        cur.execute("SELECT consumer, count(*) FROM processed_event GROUP BY 1")
        applied = dict(cur.fetchall())
    return Finding("no effect applied twice", not doubled,
                   f"events applied per consumer {applied}; {len(doubled)} doubled effects", doubled)


def check_stock() -> Finding:
    held: dict[str, int] = {}
    for lines in Reservation.objects.filter(status=Reservation.Status.HELD).values_list("lines", flat=True):
        for line in lines:
            held[line["sku"]] = held.get(line["sku"], 0) + line["quantity"]
    bad = []
    stocks = list(Stock.objects.select_related("product"))
    for s in stocks:
        sku = s.product.sku
        if s.initial != s.available + s.reserved + s.sold or min(s.on_hand, s.reserved, s.sold, s.available) < 0:
            bad.append(f"{sku}: initial {s.initial} != available {s.available} + reserved {s.reserved} + sold {s.sold}")
        elif s.reserved != held.get(sku, 0):
            bad.append(f"{sku}: reserved {s.reserved} but open reservations hold {held.get(sku, 0)}")
    return Finding("stock adds up per product", not bad,
                   f"{len(stocks)} products: initial = available + reserved + sold, nothing negative", bad)


def gateway_ledger(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base_url.rstrip('/')}/v1/ledger", timeout=10) as response:
        return json.loads(response.read())


def check_money(base_url: str) -> Finding:
    ledger = gateway_ledger(base_url)
    paid = dict(Order.objects.filter(status__in=PAID).values_list("pk", "total_minor"))
    paid_total = sum(paid.values())
    twice = [f"{o} x{n}" for o, n in ledger["captures_per_order"].items() if n > 1]
    kept_unpaid = [o for o in ledger["captures_per_order"] if uuid.UUID(o) not in paid]
    ok = not twice and ledger["net_minor"] == paid_total
    return Finding("money: captured - refunded = paid orders, one capture per order", ok,
                   f"gateway captured {ledger['captured_minor']} - refunded {ledger['refunded_minor']} = "
                   f"{ledger['net_minor']}; paid orders total {paid_total} ({len(paid)} orders)",
                   twice + ([f"captured but not paid (refund owed?): {', '.join(kept_unpaid[:10])}"]
                            if ledger["net_minor"] != paid_total and kept_unpaid else []))


def check_notified_once() -> Finding:
    """Every order that reached an outcome has exactly one notification of that outcome's kind."""
    from orders_site.notifications.services import KIND_OF_STATUS

    with connection.cursor() as cur:
        cur.execute("SELECT o.number, o.status, count(n.id) FROM orders o LEFT JOIN notifications n"
                    " ON n.order_id = o.id AND n.kind = (%s::jsonb ->> o.status)"
                    " WHERE o.status = ANY(%s) GROUP BY o.number, o.status HAVING count(n.id) <> 1",
                    [json.dumps(KIND_OF_STATUS), [s.value for s in TERMINAL if s.value in KIND_OF_STATUS]])
        wrong = [f"{number} ({status}): {n} notifications" for number, status, n in cur.fetchall()]
    return Finding("exactly one notification per order outcome", not wrong,
                   f"{len(wrong)} orders at an outcome without exactly one notification of it", wrong)


def check_all(*, bootstrap: str | None = None, gateway_url: str | None = None,
              stuck_after: timedelta = timedelta(minutes=2),
              published_settle: timedelta = timedelta(seconds=10)) -> list[Finding]:
    return [
        check_orders_settled(stuck_after),
        check_published(bootstrap or settings.KAFKA_BOOTSTRAP_SERVERS, published_settle),
        check_sequences(),
        check_effects_once(),
        check_stock(),
        check_notified_once(),
        check_money(gateway_url or os.environ.get("GATEWAY_URL", "http://127.0.0.1:8090")),
    ]
