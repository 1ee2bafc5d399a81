"""Business metrics, read from the database at scrape time (no counter to keep in sync with rows).

Each scrape runs a handful of aggregate queries over `orders` and `payments`; the latency histogram
scans terminal orders, which costs milliseconds per hundred thousand orders (docs/benchmarks.md).
"""
from __future__ import annotations

from collections.abc import Iterator

from django.db import connection
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from orders_site.orders.status import TERMINAL, OrderStatus

# Seconds from checkout to a terminal state: the saga takes ~0.1-1 s when healthy; minutes mean a
# stalled consumer, an in-doubt payment or a relay behind.
FINAL_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


class BusinessCollector(Collector):
    def collect(self) -> Iterator[object]:
        with connection.cursor() as cur:
            yield from self._orders(cur)
            yield from self._final_latency(cur)
            yield from self._payments(cur)

    @staticmethod
    def _orders(cur) -> Iterator[object]:
        cur.execute("SELECT status, count(*) FROM orders GROUP BY status")
        counts = dict(cur.fetchall())
        by_state = GaugeMetricFamily("orders_orders", "Orders by current state", labels=["state"])
        for state in OrderStatus:
            by_state.add_metric([state.value], counts.get(state.value, 0))
        yield by_state
        cur.execute("SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0) FROM orders "
                    "WHERE status <> ALL(%s)", [sorted(TERMINAL)])
        yield GaugeMetricFamily("orders_open_oldest_age_seconds",
                                "Age of the oldest order not yet in a final state (0 when none)",
                                value=float(cur.fetchone()[0]))

    @staticmethod
    def _final_latency(cur) -> Iterator[object]:
        columns = ", ".join(f"count(*) FILTER (WHERE s <= {le})" for le in FINAL_LATENCY_BUCKETS)
        cur.execute(f"SELECT {columns}, count(*), COALESCE(sum(s), 0) FROM "
                    "(SELECT EXTRACT(EPOCH FROM updated_at - created_at) AS s FROM orders "
                    "WHERE status = ANY(%s)) final", [sorted(TERMINAL)])
        row = cur.fetchone()
        buckets = [(str(le), row[i]) for i, le in enumerate(FINAL_LATENCY_BUCKETS)] + [("+Inf", row[-2])]
        yield HistogramMetricFamily("orders_checkout_to_final_seconds",
                                    "Seconds from checkout to the order's final state, over final orders",
                                    buckets=buckets, sum_value=float(row[-1]))

    @staticmethod
    def _payments(cur) -> Iterator[object]:
        cur.execute("SELECT status, count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(updated_at)), 0) "
                    "FROM payments GROUP BY status")
        rows = {status: (count, age) for status, count, age in cur.fetchall()}
        by_status = GaugeMetricFamily("orders_payments", "Payment attempts by status", labels=["status"])
        for status in ("PENDING", "IN_DOUBT", "CAPTURED", "DECLINED", "REFUNDED"):
            by_status.add_metric([status], rows.get(status, (0, 0))[0])
        yield by_status
        yield GaugeMetricFamily("orders_payments_in_doubt", "Payments whose gateway outcome is unknown",
                                value=rows.get("IN_DOUBT", (0, 0))[0])
        yield GaugeMetricFamily("orders_payment_in_doubt_oldest_seconds",
                                "Seconds since the oldest in-doubt payment last changed (0 when none)",
                                value=float(rows.get("IN_DOUBT", (0, 0))[1]))
        # Refunded payments are never deleted, so their count only grows: a counter.
        yield CounterMetricFamily("orders_refunds", "Payments refunded (a capture on a cancelled order)",
                                  value=rows.get("REFUNDED", (0, 0))[0])
