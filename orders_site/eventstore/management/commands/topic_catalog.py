"""Write docs/topic-catalog.md from schemas/ (--check: fail if the committed file is stale)."""
from django.core.management.base import BaseCommand, CommandError

from orders_site.eventstore.catalog import CATALOG_PATH, render_catalog, write_catalog


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("--check", action="store_true")

    def handle(self, *args, check: bool = False, **options) -> None:
        if check:
            current = CATALOG_PATH.read_text() if CATALOG_PATH.exists() else ""
            if current != render_catalog():
                raise CommandError(f"{CATALOG_PATH} is stale: run `python manage.py topic_catalog`")
            self.stdout.write("topic catalog is up to date")
            return
        write_catalog()
        self.stdout.write(f"wrote {CATALOG_PATH}")
