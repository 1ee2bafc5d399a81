"""Write docs/topic-catalog.md from schemas/ and the connector (--check: fail if the file is stale)."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orders_site.eventstore.catalog import CATALOG_PATH, render_catalog, write_catalog


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true",
                            help="exit non-zero if the file differs from what would be written (for CI)")

    def handle(self, *args: Any, check: bool = False, **options: Any) -> None:
        if check:
            current = CATALOG_PATH.read_text() if CATALOG_PATH.exists() else ""
            if current != render_catalog():
                raise CommandError(f"{CATALOG_PATH} is stale: run `python manage.py topic_catalog`")
            self.stdout.write("topic catalog is up to date")
            return
        write_catalog()
        self.stdout.write(f"wrote {CATALOG_PATH}")
