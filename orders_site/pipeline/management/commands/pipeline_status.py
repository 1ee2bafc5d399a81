"""`python manage.py pipeline_status`: connector, slot, consumer lag, dead letters; exit 1 when unhealthy."""
from __future__ import annotations

from django.core.management.base import BaseCommand

from orders_site.pipeline.display import size
from orders_site.pipeline.status import fetch_pipeline_status


class Command(BaseCommand):
    help = "Print the pipeline's health (for people, cron and CI); exit status 1 when something is wrong."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--max-lag", type=int, default=1000, help="messages a group may lag (default 1000)")

    def handle(self, *args, max_lag: int, **options) -> None:
        status = fetch_pipeline_status(max_lag=max_lag)
        c, s = status.connector, status.slot
        out = self.stdout.write
        out(f"connector  {c.name}: {c.state}; tasks " + (", ".join(f"{t.id}={t.state}" for t in c.tasks) or "none"))
        out(f"slot       {s.name}: " + (f"active={s.active} retained WAL {size(s.retained_wal_bytes)} "
                                         f"({s.wal_status})" if s.exists else s.error))
        for group in status.lag:
            detail = group.error or " ".join(f"{p.topic}[{p.partition}]={p.lag}" for p in group.partitions)
            out(f"lag        {group.group}: {group.total}  {detail}")
        for dlq in status.dead_letters:
            out(f"dlq        {dlq.topic}: {dlq.waiting} waiting, {dlq.redriven} re-driven"
                + (f" ({dlq.error})" if dlq.error else ""))
        if status.healthy:
            out("healthy")
            return
        for problem in status.problems:
            self.stderr.write(f"UNHEALTHY: {problem}")
        raise SystemExit(1)
