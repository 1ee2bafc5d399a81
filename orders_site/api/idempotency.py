"""Idempotency-Key for POST /api/orders/ (IETF httpapi draft; docs/design.md, "Checkout API").

- Keys are scoped per user and live IDEMPOTENCY_KEY_TTL_HOURS (default 24 h); an expired key is
  treated as unused.
- Same key, same body: the first response is replayed (status and body), nothing new is created.
- Same key, different body: 422. Same key while the first request is still running: 409.
- The key is claimed by one INSERT .. ON CONFLICT DO NOTHING, committed on its own (autocommit: one
  round trip) before any work, so a concurrent request with the same key finds the claim. Only when
  the key exists already does a second, locking transaction decide: replay, 409, 422 or takeover. The response is
  stored in the same transaction as the order, so "order exists" and "key completed" are one fact.
- A claim left IN_FLIGHT by a crashed request is taken over after IDEMPOTENCY_IN_FLIGHT_SECONDS
  (default 30): that request's order transaction never committed, so nothing was created.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .models import IdempotencyRecord

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


@dataclass(frozen=True)
class Claim:
    record: IdempotencyRecord
    replay: bool  # True: answer with the stored response; False: do the work, then complete()


def check_key(key: str) -> None:
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise KeyInvalid(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


_CLAIM = ("INSERT INTO idempotency_keys (user_id, key, fingerprint, state, created_at, expires_at) "
          "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (user_id, key) DO NOTHING RETURNING id")


_COMPLETE = "UPDATE idempotency_keys SET state = %s, response_status = %s, response_body = %s::jsonb WHERE id = %s"


def claim(user_id: int, key: str, request_fingerprint: str) -> Claim:
    """Claim `key` for this request, in a transaction of its own (must not run inside one).

    Raises KeyInFlight or KeyReused; returns a replay Claim for a completed identical request.
    """
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM, [user_id, key, request_fingerprint, IdempotencyRecord.State.IN_FLIGHT, now, now + ttl()])
        row = cursor.fetchone()
    if row is not None:
        return Claim(IdempotencyRecord(pk=row[0], user_id=user_id, key=key, fingerprint=request_fingerprint,
                                       created_at=now, expires_at=now + ttl()), replay=False)
    with transaction.atomic():
        record = IdempotencyRecord.objects.select_for_update().filter(user_id=user_id, key=key).first()
        if record is None:  # released (its request failed) since our INSERT saw it: claim afresh
            return claim(user_id, key, request_fingerprint)
        expired = record.expires_at <= now
        abandoned = record.state == IdempotencyRecord.State.IN_FLIGHT and record.created_at <= now - in_flight_timeout()
        if expired or abandoned:
            # Start over under the same row (we hold its lock, so only one request can do this).
            record.fingerprint, record.state = request_fingerprint, IdempotencyRecord.State.IN_FLIGHT
            record.response_status, record.response_body = None, None
            record.created_at, record.expires_at = now, now + ttl()
            record.save()
            return Claim(record, replay=False)
    if record.fingerprint != request_fingerprint:
        raise KeyReused("this Idempotency-Key was already used with a different request")
    if record.state == IdempotencyRecord.State.IN_FLIGHT:
        raise KeyInFlight("a request with this Idempotency-Key is still being processed; retry later")
    return Claim(record, replay=True)


def complete(record: IdempotencyRecord, status: int, body: Any) -> None:
    """Store the response to replay. Call inside the transaction that made the response true."""
    with connection.cursor() as cursor:  # plain SQL: on every checkout, and the ORM's update costs more than it
        cursor.execute(_COMPLETE, [IdempotencyRecord.State.COMPLETED, status, json.dumps(body), record.pk])


def release(record: IdempotencyRecord) -> None:
    """Forget an unfinished claim (the request failed unexpectedly) so a retry can proceed."""
    IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyRecord.State.IN_FLIGHT).delete()


def purge_expired() -> int:
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
