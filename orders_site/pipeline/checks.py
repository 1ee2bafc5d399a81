"""Running the invariant checker on an operator's request and keeping its verdict."""
from __future__ import annotations

from datetime import timedelta

from orders_site.audit.invariants import check_all

from .models import InvariantRun


def run_invariant_check(*, requested_by: str, stuck_after: timedelta = timedelta(seconds=120)) -> InvariantRun:
    """Run every check (reads the database, the broker and the gateway's ledger; takes seconds) and
    record the result. Must not run inside a transaction: it reads the topics for a while."""
    try:
        findings = check_all(stuck_after=stuck_after)
        ok, report = all(f.ok for f in findings), "\n".join(str(f) for f in findings)
    except Exception as err:  # noqa: BLE001 - a part that does not answer is a failed check, shown as such
        ok, report = False, f"the check could not run: {err!r}"
    return InvariantRun.objects.create(ok=ok, report=report, requested_by=requested_by)


def fetch_last_check() -> InvariantRun | None:
    return InvariantRun.objects.first()
