"""Shared fixtures for integration tests: a small catalog and API clients for two customers and staff."""
from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.http import HttpResponse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient, ForceAuthClientHandler

from orders_site.api import checkout_wsgi
from orders_site.catalog.services import receive_product


class EntryHandler(ForceAuthClientHandler):
    """The test client's handler with wsgi.py's routing: a request checkout_wsgi takes is answered
    there, as in production, any other by Django. Like Django's ClientHandler, it sends the request
    signals without close_old_connections, which would end the test's transaction."""

    def __call__(self, environ: dict[str, Any]) -> HttpResponse:
        if self._force_user is not None or not checkout_wsgi.takes(environ):
            return super().__call__(environ)
        request_started.disconnect(close_old_connections)
        request_started.send(sender=self.__class__, environ=environ)
        request_started.connect(close_old_connections)
        status, headers, body = checkout_wsgi.serve(environ)
        response = HttpResponse(body, status=int(status.split()[0]), headers=headers)
        response.wsgi_request = WSGIRequest(environ)
        response.served_by_entry = True  # for tests that must know which path answered
        request_finished.disconnect(close_old_connections)
        request_finished.send(sender=self.__class__)
        request_finished.connect(close_old_connections)
        return response


class EntryAPIClient(APIClient):
    def __init__(self, enforce_csrf_checks: bool = False, **defaults: Any) -> None:
        super().__init__(enforce_csrf_checks, **defaults)
        self.handler = EntryHandler(enforce_csrf_checks)


@pytest.fixture
def catalog(db) -> None:
    receive_product(sku="KB-001", name="Keyboard", price_minor=8900, quantity=50)
    receive_product(sku="MS-002", name="Mouse", price_minor=2900, quantity=100)
    receive_product(sku="MN-003", name="Monitor", price_minor=24900, quantity=10)


def _client(username: str, *, staff: bool = False) -> APIClient:
    """A client authenticated as production's clients are, with a token (the checkout then takes its WSGI entry)."""
    user, _ = get_user_model().objects.get_or_create(username=username, defaults={"is_staff": staff})
    client = EntryAPIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
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
