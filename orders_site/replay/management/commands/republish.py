"""`python manage.py republish --order ID | --since T [--until T]`: publish stored events again."""
from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from orders_site.replay.republish import RepublishRefused, Selection, request_republish


def _moment(raw: str | None) -> Any:
    if raw is None:
        return None
    moment = parse_datetime(raw)
    if moment is None:
        raise CommandError(f"not an ISO-8601 date-time: {raw!r}")
    return moment


class Command(BaseCommand):
    help = ("Re-publish one order's events, or those that occurred in a time range, through the relay "
            "(a Debezium incremental snapshot), in per-order sequence order. Consumers skip what they applied.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--order", help="the order id (UUID)")
        parser.add_argument("--since", help="ISO-8601 with a time zone, e.g. 2026-11-27T10:00:00Z")
        parser.add_argument("--until", help="ISO-8601 with a time zone (exclusive); default: now")
        parser.add_argument("--beyond-retention", action="store_true",
                            help="allow events older than the inbox retention (they will be applied again)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            order = uuid.UUID(options["order"]) if options["order"] else None
        except ValueError as err:
            raise CommandError(f"--order is not a UUID: {options['order']!r}") from err
        selection = Selection(order, _moment(options["since"]), _moment(options["until"]))
        try:
            requested = request_republish(selection, beyond_retention=options["beyond_retention"])
        except RepublishRefused as err:
            raise CommandError(str(err)) from err
        self.stdout.write(f"asked the relay to re-publish {requested.events} events ({requested.condition}); "
                          f"signal {requested.signal_id}. They follow within seconds, in chunks.")
