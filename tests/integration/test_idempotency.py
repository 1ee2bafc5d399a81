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


def test_retry_while_the_first_is_in_flight_is_409(alice: APIClient) -> None:
    fp = idempotency.fingerprint("POST", "/api/orders/", GOOD)
    idempotency.claim(alice.user.pk, "k-3", fp)  # a first request that has not finished
    response = post(alice, GOOD, **{"Idempotency-Key": "k-3"})
    assert response.status_code == 409
    assert counts() == (0, 0)


def test_an_abandoned_claim_is_taken_over(alice: APIClient, settings) -> None:
    settings.IDEMPOTENCY_IN_FLIGHT_SECONDS = 0  # the first request died without committing anything
    idempotency.claim(alice.user.pk, "k-4", idempotency.fingerprint("POST", "/api/orders/", GOOD))
    assert post(alice, GOOD, **{"Idempotency-Key": "k-4"}).status_code == 201
    assert counts() == (1, 1)


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
