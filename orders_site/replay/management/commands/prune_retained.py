"""`python manage.py prune_retained`: delete inbox rows and notifications past the retention horizon.

Run it daily (cron, a systemd timer, a Kubernetes CronJob: docs/operations.md, "Retention")."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from orders_site.replay.retention import HorizonTooShort, prune


class Command(BaseCommand):
    help = "Delete consumers' inbox rows and sent notifications older than ORDERS_INBOX_RETENTION_DAYS, in batches."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None,
                            help=f"override the horizon (default {settings.INBOX_RETENTION_DAYS})")
        parser.add_argument("--batch", type=int, default=5000, help="rows per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch"] < 1:
            raise CommandError("--batch must be at least 1")
        try:
            pruned = prune(retention_days=options["days"], batch=options["batch"])
        except HorizonTooShort as err:
            raise CommandError(str(err)) from err
        self.stdout.write(f"pruned {pruned.inbox} inbox rows and {pruned.notifications} notifications "
                          f"older than {pruned.cutoff:%Y-%m-%d %H:%M %Z}")
