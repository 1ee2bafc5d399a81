"""Shared fixtures for integration tests: a small catalog and API clients for two customers and staff."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from orders_site.catalog.services import receive_product


@pytest.fixture
def catalog(db) -> None:
    receive_product(sku="KB-001", name="Keyboard", price_minor=8900, quantity=50)
    receive_product(sku="MS-002", name="Mouse", price_minor=2900, quantity=100)
    receive_product(sku="MN-003", name="Monitor", price_minor=24900, quantity=10)


def _client(username: str, *, staff: bool = False) -> APIClient:
    user, _ = get_user_model().objects.get_or_create(username=username, defaults={"is_staff": staff})
    client = APIClient()
    client.force_authenticate(user)
    client.user = user
    return client


@pytest.fixture
def alice(db) -> APIClient:
    return _client("alice")


@pytest.fixture
def bob(db) -> APIClient:
    return _client("bob")


@pytest.fixture
def staff(db) -> APIClient:
    return _client("staff", staff=True)


@pytest.fixture(autouse=True)
def notifications_to_tmp(tmp_path, monkeypatch) -> None:
    """Notifications "sent" by a test go to its own file, not the working directory."""
    monkeypatch.setenv("NOTIFICATIONS_FILE", str(tmp_path / "notifications.log"))
