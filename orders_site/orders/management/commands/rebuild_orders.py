"""Rebuild the orders / order_items projection from the event store.

--check compares and reports differences without writing (exit status 1 if any).
"""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from orders_site.orders import projection
from orders_site.orders.history import replay_all
from orders_site.orders.models import Order


def _row_state(order: Order) -> tuple:
    items = tuple((i.sku, i.product_name, i.quantity, i.unit_price_minor) for i in order.items.all())
    return (order.number, order.customer_id, order.status, order.total_minor, order.currency,
            order.payment_method, order.shipping_note, order.status_reason, order.version,
            order.created_at, order.updated_at, items)


def _event_state(state: projection.OrderState) -> tuple:
    items = tuple((i.sku, i.product_name, i.quantity, i.unit_price_minor) for i in state.items)
    return (state.number, state.customer_id, state.status.value, state.total_minor, state.currency,
            state.payment_method, state.shipping_note, state.status_reason, state.version,
            state.created_at, state.updated_at, items)


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("--check", action="store_true", help="report differences, write nothing")

    def handle(self, *args, check: bool = False, **options) -> None:
        seen, differing = set(), []
        rows = {o.pk: o for o in Order.objects.prefetch_related("items")}
        with transaction.atomic():
            for n, state in enumerate(replay_all(), start=1):
                seen.add(state.order_id)
                row = rows.get(state.order_id)
                if row is None or _row_state(row) != _event_state(state):
                    differing.append(state.order_id)
                    if not check:
                        projection.upsert(state)
                if n % 5000 == 0:
                    self.stdout.write(f"  {n} orders replayed ...")
            orphans = set(rows) - seen
        self.stdout.write(f"{len(seen)} orders replayed from the event store; {len(differing)} differed"
                          f"{' (fixed)' if differing and not check else ''}; {len(orphans)} rows without events")
        if orphans:
            self.stdout.write("  rows without events (left untouched, investigate): "
                              + ", ".join(str(o) for o in sorted(orphans, key=str)[:20]))
        if check and (differing or orphans):
            raise CommandError("projection differs from the event store: " +
                               ", ".join(str(o) for o in differing[:20]))
