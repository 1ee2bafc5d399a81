"""Idempotency-Key for POST /api/orders/ and its cancel (IETF httpapi draft; docs/design.md, "Checkout API").

- Keys are scoped per user and live IDEMPOTENCY_KEY_TTL_HOURS (default 24 h); an expired key is
  treated as unused.
- Same key, same body: the first response is replayed (status and body), nothing new is created.
- Same key, different body: 422. Same key while the first request is still running: 409.
- One transaction per request: claim() runs first in the caller's transaction, and the work and the
  stored response commit (or roll back) with it. Its first statement takes a transaction-scoped
  advisory try-lock on (user, key) and, when it got it, inserts the key row; a checkout passes its
  response (computed before anything is written), so the row goes in already COMPLETED and a
  successful checkout costs one statement and no commit of its own. "Order exists" and "key
  completed" are one fact.
- Why the lock: every request with the key takes it before it looks at the row, and holds it until
  its commit or rollback. Not getting it means another request with the key is running: 409 at once,
  without waiting. Getting it means any earlier holder has finished, so a row that exists is
  committed and final; it is read in a statement of its own (a snapshot taken after the lock was
  granted) and decides: replay, 422, or takeover when expired.
- A request that crashes rolls its transaction back: neither the key nor its work remains, and a retry
  starts afresh. An IN_FLIGHT row exists only when written outside this scheme (the previous
  two-commit code, e.g. during a rolling deploy); it answers 409 until IDEMPOTENCY_IN_FLIGHT_SECONDS
  (default 30) have passed, then it is taken over.
- The lock is keyed by a 64-bit hash of user and key: two different keys colliding while both run
  would make one of them a needless 409, which a client retries.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone
from rest_framework import status

from .models import IdempotencyRecord
from .responses import Answer

MAX_KEY_LENGTH = 255


def ttl() -> timedelta:
    return timedelta(hours=getattr(settings, "IDEMPOTENCY_KEY_TTL_HOURS", 24))


def in_flight_timeout() -> timedelta:
    return timedelta(seconds=getattr(settings, "IDEMPOTENCY_IN_FLIGHT_SECONDS", 30))


class KeyInvalid(ValueError):
    """The header is empty or too long (400)."""


class KeyInFlight(Exception):
    """The first request with this key has not finished (409)."""


class KeyReused(Exception):
    """The key was used for a different request (422)."""


class OutsideTransaction(RuntimeError):
    """claim() was called without an enclosing transaction.atomic() block."""


def refusal(err: KeyInvalid | KeyInFlight | KeyReused) -> Answer:
    """The answer to a key this module refused, the same for every endpoint that takes one: 400 for
    a malformed key, 409 (retry later) while its first request runs, 422 for a key used before with
    another request."""
    if isinstance(err, KeyInvalid):
        return Answer(status.HTTP_400_BAD_REQUEST, {"Idempotency-Key": [str(err)]})
    if isinstance(err, KeyInFlight):
        return Answer(status.HTTP_409_CONFLICT, {"detail": str(err)}, {"Retry-After": "1"})
    return Answer(status.HTTP_422_UNPROCESSABLE_ENTITY, {"detail": str(err)})


@dataclass(frozen=True)
class Claim:
    record_id: int
    replay: Answer | None  # the first request's answer to repeat; None: this request does the work


def check_key(key: str) -> None:
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise KeyInvalid(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


# The lock and the insert in one statement (one round trip). The insert reads `got`, so the lock is
# taken before it. ON CONFLICT checks the unique index against every committed row, also one that a
# previous holder committed after this statement's snapshot was taken and before the lock was free:
# such a row is a conflict, never overwritten, and the SELECT that follows sees it.
_LOCK_AND_INSERT = """
WITH lock AS (SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0)) AS got),
ins AS (
    INSERT INTO idempotency_keys (user_id, key, fingerprint, state, response_status, response_body,
                                  created_at, expires_at)
    SELECT %s, %s, %s, %s, %s, %s::jsonb, %s, %s FROM lock WHERE got
    ON CONFLICT (user_id, key) DO NOTHING
    RETURNING id)
SELECT lock.got, (SELECT id FROM ins) FROM lock
"""

_COMPLETE = "UPDATE idempotency_keys SET state = %s, response_status = %s, response_body = %s::jsonb WHERE id = %s"

MAX_ATTEMPTS = 3  # a row changed under us by a writer outside this scheme (purge, older code): look again


def claim(user_id: int, key: str, request_fingerprint: str, response: Answer | None = None) -> Claim:
    """Claim `key` for this request. Requires an enclosing transaction.atomic(): the lock is held, and
    the key row kept, only if that transaction commits.

    With `response`, the key is stored completed with it (the caller's work must then commit in this
    transaction, or raise); without it, call complete() before the transaction ends. Raises
    KeyInFlight (another request with the key is running) or KeyReused (different body); returns a
    Claim with `replay` for a completed identical request, whose transaction has written nothing.
    """
    if not connection.in_atomic_block:
        raise OutsideTransaction("claim() must run inside transaction.atomic(), with the work the key guards")
    for _ in range(MAX_ATTEMPTS):
        now = timezone.now()
        state = IdempotencyRecord.State.IN_FLIGHT if response is None else IdempotencyRecord.State.COMPLETED
        status, body = (None, None) if response is None else (response.status, json.dumps(response.body))
        with connection.cursor() as cursor:
            cursor.execute(_LOCK_AND_INSERT, [f"idempotency_keys:{user_id}:{key}", user_id, key, request_fingerprint,
                                              state, status, body, now, now + ttl()])
            got, inserted = cursor.fetchone()
        if not got:
            raise KeyInFlight("a request with this Idempotency-Key is still being processed; retry later")
        if inserted is not None:
            return Claim(inserted, replay=None)
        # The row existed. We hold the lock, so no request of this scheme is writing it: a new
        # statement (a new snapshot in READ COMMITTED) reads it as its writer committed it.
        record = IdempotencyRecord.objects.filter(user_id=user_id, key=key).first()
        if record is None:  # purged since our insert saw it: insert again
            continue
        expired = record.expires_at <= now
        abandoned = record.state == IdempotencyRecord.State.IN_FLIGHT and record.created_at <= now - in_flight_timeout()
        if expired or abandoned:
            # Start over under the same row. The row is matched as read (no FOR UPDATE, so a replay
            # stays read-only): a writer outside the lock that changed it since sends us round again.
            taken = IdempotencyRecord.objects.filter(
                pk=record.pk, state=record.state, created_at=record.created_at, fingerprint=record.fingerprint,
            ).update(fingerprint=request_fingerprint, state=state, response_status=status,
                     response_body=None if response is None else response.body,
                     created_at=now, expires_at=now + ttl())
            if taken:
                return Claim(record.pk, replay=None)
            continue
        if record.fingerprint != request_fingerprint:
            raise KeyReused("this Idempotency-Key was already used with a different request")
        if record.state == IdempotencyRecord.State.IN_FLIGHT:  # written by older two-commit code, still running
            raise KeyInFlight("a request with this Idempotency-Key is still being processed; retry later")
        return Claim(record.pk, replay=Answer(record.response_status, record.response_body))
    raise KeyInFlight("this Idempotency-Key is being changed by another writer; retry later")


def complete(record_id: int, status: int, body: Any) -> None:
    """Store the response to replay. Requires the transaction claim() ran in (commit makes it true)."""
    with connection.cursor() as cursor:
        cursor.execute(_COMPLETE, [IdempotencyRecord.State.COMPLETED, status, json.dumps(body), record_id])


def purge_expired() -> int:
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
