"""Idempotency-Key on POST /api/orders/ (IETF httpapi draft), against real PostgreSQL."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from orders_site.api import idempotency
from orders_site.api.models import IdempotencyRecord
from orders_site.catalog.services import receive_product
from orders_site.eventstore.models import StoredEvent
from orders_site.orders.models import Order

from .test_checkout_api import GOOD, post

pytestmark = pytest.mark.usefixtures("catalog")


def counts() -> tuple[int, int]:
    return Order.objects.count(), StoredEvent.objects.count()


def test_same_key_same_body_replays_the_first_response_and_creates_nothing(alice: APIClient) -> None:
    first = post(alice, GOOD, **{"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    before = counts()
    second = post(alice, GOOD, **{"Idempotency-Key": "k-1"})
    assert (second.status_code, second.json()) == (201, first.json())
    assert second["Idempotent-Replayed"] == "true"
    assert counts() == before == (1, 1)


def test_same_key_different_body_is_422(alice: APIClient) -> None:
    post(alice, GOOD, **{"Idempotency-Key": "k-2"})
    other = GOOD | {"payment_method": "wallet"}
    response = post(alice, other, **{"Idempotency-Key": "k-2"})
    assert response.status_code == 422
    assert counts() == (1, 1)


def in_flight_claim(user_id: int, key: str, body: object) -> IdempotencyRecord:
    """A claim committed on its own before the work, as the previous two-commit code wrote it (a
    rolling deploy runs both): the only way an IN_FLIGHT row exists now."""
    now = timezone.now()
    return IdempotencyRecord.objects.create(
        user_id=user_id, key=key, fingerprint=idempotency.fingerprint("POST", "/api/orders/", body),
        state=IdempotencyRecord.State.IN_FLIGHT, created_at=now, expires_at=now + idempotency.ttl())


def test_retry_while_the_first_is_in_flight_is_409(alice: APIClient) -> None:
    in_flight_claim(alice.user.pk, "k-3", GOOD)  # a first request that has not finished
    response = post(alice, GOOD, **{"Idempotency-Key": "k-3"})
    assert response.status_code == 409 and response["Retry-After"] == "1"
    assert counts() == (0, 0)


def test_an_abandoned_claim_is_taken_over(alice: APIClient, settings) -> None:
    settings.IDEMPOTENCY_IN_FLIGHT_SECONDS = 0  # the first request died without committing anything
    in_flight_claim(alice.user.pk, "k-4", GOOD)
    response = post(alice, GOOD, **{"Idempotency-Key": "k-4"})
    assert response.status_code == 201
    assert counts() == (1, 1)
    # and the row taken over holds the new answer, replayed from now on
    assert post(alice, GOOD, **{"Idempotency-Key": "k-4"}).json() == response.json()


def test_keys_are_scoped_per_user(alice: APIClient, bob: APIClient) -> None:
    assert post(alice, GOOD, **{"Idempotency-Key": "shared"}).status_code == 201
    assert post(bob, GOOD, **{"Idempotency-Key": "shared"}).status_code == 201
    assert Order.objects.count() == 2


def test_an_expired_key_is_a_new_request(alice: APIClient) -> None:
    post(alice, GOOD, **{"Idempotency-Key": "k-5"})
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert post(alice, GOOD, **{"Idempotency-Key": "k-5"}).status_code == 201
    assert Order.objects.count() == 2
    assert idempotency.purge_expired() == 0  # the record was renewed, not expired


def test_a_validation_error_is_stored_and_replayed(alice: APIClient) -> None:
    bad = {"items": [{"sku": "NOPE", "quantity": 1}], "payment_method": "card"}
    first = post(alice, bad, **{"Idempotency-Key": "k-6"})
    second = post(alice, bad, **{"Idempotency-Key": "k-6"})
    assert first.status_code == second.status_code == 400
    assert second.json() == first.json() and second["Idempotent-Replayed"] == "true"
    assert counts() == (0, 0)


def test_a_stored_400_is_replayed_even_once_the_body_would_be_valid(alice: APIClient) -> None:
    # given a checkout refused because a SKU was unknown
    body = {"items": [{"sku": "NEW-1", "quantity": 1}], "payment_method": "card"}
    assert post(alice, body, **{"Idempotency-Key": "k-7"}).status_code == 400
    # when the SKU appears and the same request is retried
    receive_product(sku="NEW-1", name="New", price_minor=100, quantity=5)
    again = post(alice, body, **{"Idempotency-Key": "k-7"})
    # then the key's first answer holds
    assert again.status_code == 400 and again["Idempotent-Replayed"] == "true"
    assert "Location" not in again
    assert counts() == (0, 0)


def test_a_replayed_201_carries_its_location(alice: APIClient) -> None:
    first = post(alice, GOOD, **{"Idempotency-Key": "k-8"})
    again = post(alice, GOOD, **{"Idempotency-Key": "k-8"})
    assert again["Location"] == first["Location"] == f"/api/orders/{first.json()['id']}/"


@pytest.mark.parametrize("key", ["", "   ", "k" * 256])
def test_unusable_keys_are_a_400(alice: APIClient, key: str) -> None:
    response = post(alice, GOOD, **{"Idempotency-Key": key})
    assert response.status_code == 400 and "Idempotency-Key" in response.json()
    assert counts() == (0, 0)


def test_without_a_key_each_post_is_a_new_order(alice: APIClient) -> None:
    post(alice, GOOD)
    post(alice, GOOD)
    assert Order.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_with_one_key_create_one_order(alice: APIClient) -> None:
    # given two clients of the same user firing the same request at the same instant
    barrier = threading.Barrier(2)
    results: list[int] = []

    def fire() -> None:
        client = APIClient()
        client.force_authenticate(alice.user)
        try:
            barrier.wait()
            results.append(post(client, GOOD, **{"Idempotency-Key": "race"}).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=fire) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    # then exactly one order exists; the loser was told to retry (409) or got the replay (201)
    assert sorted(results) in ([201, 201], [201, 409])
    assert Order.objects.count() == 1 and StoredEvent.objects.count() == 1


def next_transaction_id() -> int:
    """The next transaction id PostgreSQL will assign (reading it assigns none). Only a transaction that
    writes gets one, and only such a commit flushes the WAL: the difference counts durable commits."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text")
        return int(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_a_keyed_checkout_is_one_transaction_and_one_commit(alice: APIClient) -> None:
    # given every statement recorded with the transaction it runs in (None: autocommit, a commit of its own)
    statements: list[tuple[str, int | None]] = []
    blocks: list[object] = []  # outermost atomic blocks seen, kept alive so no two share an identity

    def transaction_of() -> int | None:
        if not connection.in_atomic_block:
            return None
        block = connection.atomic_blocks[0]
        if not any(seen is block for seen in blocks):
            blocks.append(block)
        return next(n for n, seen in enumerate(blocks) if seen is block)

    def record(execute, sql, params, many, context):  # noqa: ANN001 - Django's wrapper protocol
        statements.append((sql, transaction_of()))
        return execute(sql, params, many, context)

    # when a checkout with a new key runs
    before = next_transaction_id()
    with connection.execute_wrapper(record):
        response = post(alice, GOOD, **{"Idempotency-Key": "one-commit"})
    after = next_transaction_id()
    assert response.status_code == 201, response.content
    # then one transaction wrote (the key, the event and the order): one commit, one WAL flush
    assert after - before == 1
    # and it is five statements: the token's user and the prices read before the transaction, then the
    # key, the event and the order rows inside it; seven round trips with BEGIN and COMMIT
    assert [tx for _, tx in statements] == [None, None, 0, 0, 0], [sql[:60] for sql, _ in statements]
    assert IdempotencyRecord.objects.get(key="one-commit").state == IdempotencyRecord.State.COMPLETED
    # and a replay writes nothing at all (its COMMIT has no WAL to flush)
    before = next_transaction_id()
    assert post(alice, GOOD, **{"Idempotency-Key": "one-commit"})["Idempotent-Replayed"] == "true"
    assert next_transaction_id() == before


@pytest.mark.django_db(transaction=True)
def test_a_retry_while_the_first_holds_its_transaction_is_409_then_replayed(
        alice: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a first request stopped inside its transaction, after its key statement, before its order
    from orders_site.api import checkout

    inside, go_on = threading.Event(), threading.Event()
    record_order, calls = checkout.record_order, []

    def held(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - stands in for record_order
        calls.append(1)
        if len(calls) == 1:
            inside.set()
            go_on.wait(10)
        return record_order(*args, **kwargs)

    monkeypatch.setattr(checkout, "record_order", held)
    first: list = []

    def fire() -> None:
        try:
            first.append(post(alice, GOOD, **{"Idempotency-Key": "held"}))
        finally:
            connection.close()

    thread = threading.Thread(target=fire)
    thread.start()
    try:
        assert inside.wait(10)
        # when the same request comes again meanwhile
        retry = post(alice, GOOD, **{"Idempotency-Key": "held"})
    finally:
        go_on.set()
        thread.join(10)
    # then it is told to retry, without waiting and without writing
    assert retry.status_code == 409 and retry["Retry-After"] == "1"
    assert len(calls) == 1
    # and once the first committed, the same request gets the first answer
    assert first[0].status_code == 201
    replay = post(alice, GOOD, **{"Idempotency-Key": "held"})
    assert (replay.status_code, replay.json(), replay["Idempotent-Replayed"]) == (201, first[0].json(), "true")
    assert counts() == (1, 1)


@pytest.mark.django_db(transaction=True)
def test_a_crash_inside_the_transaction_leaves_neither_key_nor_order(
        alice: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a fault after the key and the event were written, before the order rows
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("orders_site.orders.projection.insert_rows", broken)
    alice.raise_request_exception = False
    assert post(alice, GOOD, **{"Idempotency-Key": "crash"}).status_code == 500
    # then the whole transaction rolled back: no key, no event, no order
    assert IdempotencyRecord.objects.count() == 0 and counts() == (0, 0)
    # and a retry with the same key succeeds, once
    monkeypatch.undo()
    assert post(alice, GOOD, **{"Idempotency-Key": "crash"}).status_code == 201
    assert counts() == (1, 1)


@pytest.mark.django_db(transaction=True)
def test_claim_refuses_to_run_outside_a_transaction(alice: APIClient) -> None:
    # outside one, the lock would be gone and the key committed before the work
    with pytest.raises(idempotency.OutsideTransaction):
        idempotency.claim(alice.user.pk, "k-9", "0" * 64)
    assert IdempotencyRecord.objects.count() == 0
