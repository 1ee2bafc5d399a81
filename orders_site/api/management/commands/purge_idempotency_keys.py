"""Delete expired Idempotency-Key records (run daily, e.g. from cron)."""
from django.core.management.base import BaseCommand

from orders_site.api.idempotency import purge_expired


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"deleted {purge_expired()} expired idempotency keys")
