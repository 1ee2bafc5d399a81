"""Taking money for an order, exactly once in effect (docs/design.md, "Known failure modes").

1. start_payments (in the consumer's transaction): record attempt 1 as PENDING, with a deterministic
   gateway idempotency key. Nothing is sent yet.
2. charge_all (after that commit, outside any transaction): call the gateway for the batch's
   attempts concurrently, then settle every outcome in one transaction.
   A timeout / 5xx / lost response leaves the payment IN_DOUBT.
3. reconcile (periodically): ask the gateway by key about every PENDING or IN_DOUBT payment old
   enough; settle what it knows; charge again (same key: the gateway cannot charge twice) what never
   reached it. Also refund captures of orders that can no longer be paid.
Only one attempt per order exists, so an order can never be captured twice (also a DB constraint).
"""
from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from orders_site.dbbackend import arrays
from orders_site.eventstore.cause import Cause
from orders_site.eventstore.store import NewEvent, Write, append_events, new_event
from orders_site.orders.models import Order
from orders_site.orders.status import OrderStatus

from .gateway_client import ChargeResult, GatewayClient
from .models import Payment

log = logging.getLogger("payments")
UNPAYABLE = {OrderStatus.CANCELLED, OrderStatus.STOCK_REJECTED, OrderStatus.PAYMENT_FAILED}
S = Payment.Status


@dataclass(frozen=True)
class Start:
    """Take the money for this order (its stock is held)."""

    order_id: uuid.UUID
    cause: Cause


# Attempt 1 of each payable order, and the payments still waiting for the gateway, in one round trip.
# ON CONFLICT DO NOTHING: a redelivery finds its attempt recorded (any unique key: id, order + attempt,
# idempotency key). The last SELECT reads the snapshot taken before the INSERT, so it returns the
# older PENDING payments and `ins` the new ones: each waiting payment once. An attempt another
# transaction commits while this INSERT waits for it is in neither: it is charged by that
# transaction's consumer, or by the reconciler (it stays PENDING), never twice (one gateway key).
_START_PAYMENTS = f"""
WITH payable AS (
    SELECT id, payment_method, total_minor, currency FROM {Order._meta.db_table}
    WHERE id = ANY(%b::uuid[]) AND status <> ALL(%b::text[])),
ins AS (
    INSERT INTO {Payment._meta.db_table} (id, order_id, attempt, idempotency_key, method, amount_minor, currency,
                          status, gateway_transaction_id, decline_code, failure_reason, refund_reason,
                          correlation_id, cause_event_id, created_at, updated_at)
    SELECT s.payment_id, o.id, 1, s.key, o.payment_method, o.total_minor, o.currency, %s, '', '', '', '',
           s.correlation_id, s.cause_event_id, %s, %s
    FROM unnest(%b::uuid[], %b::uuid[], %b::text[], %b::uuid[], %b::uuid[])
         AS s(order_id, payment_id, key, correlation_id, cause_event_id)
    JOIN payable o ON o.id = s.order_id
    ON CONFLICT DO NOTHING
    RETURNING order_id, id)
SELECT order_id, id FROM ins
UNION ALL
SELECT p.order_id, p.id FROM {Payment._meta.db_table} p JOIN payable o ON o.id = p.order_id WHERE p.status = %s
"""


def start_payments(starts: list[Start]) -> list[uuid.UUID]:
    """Record attempt 1 of each order before any call. Requires: a transaction. Idempotent per order.

    Orders that can no longer be paid (cancelled before their stock was held) are skipped. Returns the
    payments still waiting for the gateway (new ones, and older PENDING ones of a redelivery), in
    list order, for charge_all once this transaction has committed. Plain SQL, one statement: through
    the ORM (Order models read, Payment models built, a third query) this was a fifth of the payment
    consumer's CPU (docs/benchmarks.md, "Saga, fourth pass").
    """
    ids = list(dict.fromkeys(s.order_id for s in starts))
    cause_of = {s.order_id: s.cause for s in reversed(starts)}  # the first start of an order wins
    now = timezone.now()
    with connection.cursor() as cur:
        cur.execute(_START_PAYMENTS, [
            arrays.uuids(ids), arrays.texts(s.value for s in UNPAYABLE), S.PENDING.value, now, now,
            arrays.uuids(ids), arrays.uuids(uuid.uuid4() for _ in ids), arrays.texts(attempt_key(i, 1) for i in ids),
            arrays.uuids(cause_of[i].correlation_id for i in ids), arrays.uuids(cause_of[i].event_id for i in ids),
            S.PENDING.value])
        waiting = dict(cur.fetchall())
    return [waiting[i] for i in ids if i in waiting]


def attempt_key(order_id: uuid.UUID, attempt: int) -> str:
    """The gateway idempotency key of an order's payment attempt: the same on every retry of it."""
    return f"order-{order_id}-attempt-{attempt}"


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(concurrency: int) -> ThreadPoolExecutor:
    """A pool kept for the life of the process: its threads keep their gateway connections alive
    between batches (GatewayClient), and a pool per batch cost thread starts on every batch."""
    with _pools_lock:
        if concurrency not in _pools:
            _pools[concurrency] = ThreadPoolExecutor(concurrency, thread_name_prefix="gateway")
        return _pools[concurrency]


@dataclass(frozen=True)
class _Chargeable:
    """What a charge request needs of a payment and its order."""

    payment_id: uuid.UUID
    key: str
    order_id: uuid.UUID
    customer_id: int
    amount_minor: int
    currency: str
    method: str


def _chargeable(payment_ids: list[uuid.UUID]) -> list[_Chargeable]:
    """The payments of `payment_ids` still waiting for the gateway. Plain SQL with only the columns a
    charge sends: building the Payment and Order models (select_related) took a fifth of the
    payment consumer's CPU (docs/benchmarks.md, "Saga, third pass")."""
    with connection.cursor() as cur:
        cur.execute(f"SELECT p.id, p.idempotency_key, p.order_id, o.customer_id, p.amount_minor, p.currency, p.method"
                    f" FROM {Payment._meta.db_table} p JOIN {Order._meta.db_table} o ON o.id = p.order_id"
                    f" WHERE p.id = ANY(%b::uuid[]) AND p.status = ANY(%b::text[])",
                    [arrays.uuids(payment_ids), arrays.texts([S.PENDING.value, S.IN_DOUBT.value])])
        return [_Chargeable(*row) for row in cur.fetchall()]


def charge_all(payment_ids: list[uuid.UUID], client: GatewayClient, *, concurrency: int = 8) -> None:
    """Call the gateway for recorded attempts, up to `concurrency` at once, then settle them all in
    one transaction and refund what can no longer be paid. Must not run inside a transaction: no
    row is locked while the gateway is called."""
    payments = _chargeable(payment_ids)
    if not payments:
        return

    def call(payment: _Chargeable) -> tuple[uuid.UUID, ChargeResult]:
        return payment.payment_id, client.charge(
            key=payment.key, order_id=str(payment.order_id), customer_id=str(payment.customer_id),
            amount_minor=payment.amount_minor, currency=payment.currency, method=payment.method)

    if len(payments) == 1:
        results = [call(payments[0])]
    else:
        results = list(_pool(concurrency).map(call, payments))
    settle_all(results)
    refund_unpayable([p.payment_id for p in payments], client)


def charge(payment_id: uuid.UUID, client: GatewayClient) -> None:
    """charge_all for one payment. Must not run inside a transaction."""
    charge_all([payment_id], client)


@dataclass
class Settling:
    """A payment as settle_all locks it: what an outcome changes, and what its event needs."""

    pk: uuid.UUID
    order_id: uuid.UUID
    attempt: int
    method: str
    amount_minor: int
    currency: str
    status: str
    gateway_transaction_id: str
    decline_code: str
    failure_reason: str
    correlation_id: uuid.UUID
    cause_event_id: uuid.UUID
    updated_at: datetime | None = None


# Plain SQL, as start_payments: through the ORM (a select_for_update queryset compiled per batch and a
# model per row) the settle was ~23 % of the payment consumer's GIL-holding samples at 100 orders/s,
# though no CPU saving showed at the consumer level (docs/benchmarks.md, "Saga, fifth pass").
# Locked in primary-key order, as the ORM's order_by("pk") did.
_LOCK_FOR_SETTLE = (
    f"SELECT id, order_id, attempt, method, amount_minor, currency, status, gateway_transaction_id, decline_code,"
    f" failure_reason, correlation_id, cause_event_id FROM {Payment._meta.db_table}"
    " WHERE id = ANY(%b::uuid[]) ORDER BY id FOR UPDATE")


def settle_all(results: list[tuple[uuid.UUID, ChargeResult]]) -> None:
    """Record what the gateway said. Opens its own transaction and locks the payments (primary-key
    order); a payment already settled is left alone, so a late or repeated answer changes nothing."""
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(_LOCK_FOR_SETTLE, [arrays.uuids(pk for pk, _ in results)])
            locked = {row[0]: Settling(*row) for row in cur.fetchall()}
        changed: list[Settling] = []
        events: list[NewEvent] = []
        now = timezone.now()
        for payment_id, result in results:
            payment = locked[payment_id]
            if payment.status not in (S.PENDING, S.IN_DOUBT):
                continue
            if result.outcome == "captured":
                payment.status, payment.gateway_transaction_id = S.CAPTURED, result.transaction_id
                events.append(_event(payment, "PaymentCompleted", {
                    "order_id": str(payment.order_id), "payment_id": str(payment.pk), "attempt": payment.attempt,
                    "gateway_transaction_id": result.transaction_id, "method": payment.method,
                    "amount_minor": payment.amount_minor, "currency": payment.currency}))
            elif result.outcome == "declined":
                payment.status, payment.gateway_transaction_id = S.DECLINED, result.transaction_id
                payment.decline_code, payment.failure_reason = result.decline_code, "declined by the gateway"
                events.append(_event(payment, "PaymentFailed", {
                    "order_id": str(payment.order_id), "payment_id": str(payment.pk), "attempt": payment.attempt,
                    "reason": "declined by the gateway", "decline_code": result.decline_code or None}))
            elif result.outcome == "unknown":
                payment.status, payment.failure_reason = S.IN_DOUBT, result.detail[:300]
                log.warning("payment %s for order %s in doubt: %s", payment.pk, payment.order_id, result.detail)
            else:  # not_found: the charge never reached the gateway; stays PENDING to be sent again
                continue
            payment.updated_at = now
            changed.append(payment)
        append_events(events, along=[_outcomes(changed)])


def _outcomes(payments: list[Settling]) -> Write | None:
    """One UPDATE for the settled payments (Django's bulk_update builds a CASE per row and column,
    which cost more CPU than the rest of a settle)."""
    if not payments:
        return None
    return Write(
        "UPDATE payments SET status = v.status, gateway_transaction_id = v.txn, decline_code = v.code,"
        " failure_reason = v.reason, updated_at = v.at"
        " FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::text[], %b::text[], %b::timestamptz[])"
        "  AS v(id, status, txn, code, reason, at) WHERE payments.id = v.id",
        [arrays.uuids(p.pk for p in payments), arrays.texts(str(p.status) for p in payments),
         arrays.texts(p.gateway_transaction_id for p in payments), arrays.texts(p.decline_code for p in payments),
         arrays.texts(p.failure_reason for p in payments), arrays.timestamptzs(p.updated_at for p in payments)])


def settle(payment_id: uuid.UUID, result: ChargeResult) -> None:
    """settle_all for one answer. Opens its own transaction."""
    settle_all([(payment_id, result)])


def _event(payment: Payment | Settling, event_type: str, record: dict) -> NewEvent:
    return new_event(event_type, str(payment.order_id), record, correlation_id=payment.correlation_id,
                     causation_id=payment.cause_event_id)


def refund_unpayable(payment_ids: list[uuid.UUID], client: GatewayClient) -> None:
    """Give the money back for captures whose order can no longer be paid (cancelled meanwhile).
    Outside any transaction; the refund is idempotent at the gateway (one per charge)."""
    with connection.cursor() as cur:  # after every charged batch: plain SQL, no queryset to compile
        cur.execute(f"SELECT p.id FROM {Payment._meta.db_table} p JOIN {Order._meta.db_table} o ON o.id = p.order_id"
                    " WHERE p.id = ANY(%b::uuid[]) AND p.status = %s AND o.status = ANY(%b::text[])",
                    [arrays.uuids(payment_ids), S.CAPTURED.value, arrays.texts(s.value for s in UNPAYABLE)])
        owed = [row[0] for row in cur.fetchall()]
    for payment_id in owed:
        refund_if_unpayable(payment_id, client)


def refund_if_unpayable(payment_id: uuid.UUID, client: GatewayClient) -> None:
    """Give the money back when a captured order can no longer be paid (cancelled meanwhile).
    Outside any transaction; the refund is idempotent at the gateway (one per charge)."""
    payment = Payment.objects.select_related("order").get(pk=payment_id)
    if payment.status != S.CAPTURED or OrderStatus(payment.order.status) not in UNPAYABLE:
        return
    # A cancellation can come before the capture was heard of or after it (a paid order is cancellable
    # until it ships); the reason names what happened either way.
    reason = f"order {payment.order.status.lower().replace('_', ' ')}: the capture is returned"
    result = client.refund(payment.gateway_transaction_id, reason)
    if not result.refunded:
        log.warning("refund of payment %s failed, will retry: %s", payment.pk, result.detail)
        return
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status != S.CAPTURED:
            return
        payment.status, payment.refund_reason = S.REFUNDED, reason
        payment.save()
        append_events([_event(payment, "PaymentRefunded", {
            "order_id": str(payment.order_id), "payment_id": str(payment.pk),
            "gateway_transaction_id": payment.gateway_transaction_id, "amount_minor": payment.amount_minor,
            "currency": payment.currency, "reason": reason})])


def reconcile(client: GatewayClient, *, older_than: timedelta) -> int:
    """Resolve payments whose outcome we do not know yet, and refunds still owed. Returns how many
    payments were looked at. Outside any transaction."""
    cutoff = timezone.now() - older_than
    doubtful = list(Payment.objects.filter(status__in=[S.PENDING, S.IN_DOUBT], updated_at__lte=cutoff)
                    .values_list("pk", "idempotency_key")[:100])
    unsent: list[uuid.UUID] = []
    known_results: list[tuple[uuid.UUID, ChargeResult]] = []
    for payment_id, key in doubtful:
        known = client.lookup(key)
        if known.outcome == "not_found":
            unsent.append(payment_id)  # never reached the gateway: send it (same key)
        elif known.outcome in ("captured", "declined"):
            known_results.append((payment_id, known))
        else:
            Payment.objects.filter(pk=payment_id).update(updated_at=timezone.now())  # try again later
    if known_results:
        settle_all(known_results)
    charge_all(unsent, client)
    owed = list(Payment.objects.filter(status=S.CAPTURED, order__status__in=[s.value for s in UNPAYABLE])
                .values_list("pk", flat=True)[:100])
    for payment_id in owed:
        refund_if_unpayable(payment_id, client)
    return len(doubtful) + len(owed)
