"""Rebuild the orders / order_items projection from the event store.

--check compares and reports differences without writing (exit status 1 if any).
"""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from orders_site.orders import projection
from orders_site.orders.history import replay_all
from orders_site.orders.models import Order


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
                if row is None or projection.state_of(row, with_items=True) != state:
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
