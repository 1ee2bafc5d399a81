"""Check the system's invariants (database, broker, gateway ledger); exit 1 if any fails."""
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from orders_site.audit.invariants import check_all


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("--stuck-after", type=int, default=120, help="seconds before an open order is stuck")
        parser.add_argument("--gateway-url", default=None)

    def handle(self, *args, stuck_after: int, gateway_url: str | None, **options) -> None:
        findings = check_all(gateway_url=gateway_url, stuck_after=timedelta(seconds=stuck_after))
        for finding in findings:
            self.stdout.write(str(finding))
        failed = [f.name for f in findings if not f.ok]
        if failed:
            raise CommandError(f"{len(failed)} invariant(s) failed: {'; '.join(failed)}")
        self.stdout.write("all invariants hold")
