"""`python manage.py dlq list|show|redrive`: the dead-letter topics, from the command line."""
from __future__ import annotations

import getpass

from django.core.management.base import BaseCommand, CommandError

from consumers.kafka import dlq_topic
from consumers.registry import SERVICE_NAMES
from orders_site.pipeline import dead_letters
from orders_site.pipeline.display import when
from orders_site.pipeline.status import PipelineConfig


class Command(BaseCommand):
    help = "List, show or re-drive dead letters (shop.dlq.<service>)."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True)
        listing = sub.add_parser("list")
        listing.add_argument("service", choices=SERVICE_NAMES)
        for verb in ("show", "redrive"):
            p = sub.add_parser(verb)
            p.add_argument("service", choices=SERVICE_NAMES)
            p.add_argument("partition", type=int)
            p.add_argument("offset", type=int)

    def handle(self, *args, verb: str, service: str, **options) -> None:
        cfg = PipelineConfig.from_settings()
        if verb == "list":
            done = dead_letters.redriven(dlq_topic(service))
            for d in dead_letters.list_dead_letters(cfg, service):
                mark = f"  [{done[(d.partition, d.offset)].outcome}]" if (d.partition, d.offset) in done else ""
                self.stdout.write(f"{d.partition}@{d.offset}  {when(d.timestamp)}  {d.event_type or '-'}  "
                                  f"from {d.origin}  {d.reason}: {d.exception.splitlines()[0] if d.exception else ''}"
                                  f"{mark}")
            return
        try:
            if verb == "show":
                d = dead_letters.show(cfg, service, options["partition"], options["offset"])
                self.stdout.write(f"{d.topic}[{d.partition}]@{d.offset} at {when(d.timestamp)}\nkey: {d.key!r}")
                for k, v in d.headers:
                    self.stdout.write(f"  {k}: {(v or b'').decode(errors='replace')}")
                self.stdout.write(f"value: {len(d.value or b'')} bytes")
                return
            result = dead_letters.redrive(cfg, service, options["partition"], options["offset"],
                                          requested_by=f"{getpass.getuser()} (manage.py dlq)")
        except dead_letters.NotFound as err:
            raise CommandError(str(err)) from err
        self.stdout.write(result.outcome)
        if not result.sent:
            raise SystemExit(1)
