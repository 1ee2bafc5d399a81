"""Token authentication (orders_site/api/authentication.py) over real HTTP requests and PostgreSQL."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from .test_checkout_api import GOOD, post

pytestmark = pytest.mark.usefixtures("catalog")


def client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_token_places_orders_as_its_user_and_sees_only_theirs(db) -> None:
    # given two customers with tokens, one of them staff
    carol = get_user_model().objects.create(username="carol", email="carol@example.com")
    boss = get_user_model().objects.create(username="boss", is_staff=True)
    carol_client, boss_client = (client_with(Token.objects.create(user=u).key) for u in (carol, boss))
    # when carol places an order with her token
    order = post(carol_client, GOOD)
    # then it is hers, and her list shows it; staff see it too
    assert order.status_code == 201
    assert get_user_model().objects.get(orders__id=order.json()["id"]) == carol
    assert [o["id"] for o in carol_client.get("/api/orders/").json()["results"]] == [order.json()["id"]]
    assert order.json()["id"] in [o["id"] for o in boss_client.get("/api/orders/").json()["results"]]


def test_unknown_tokens_and_inactive_users_are_401(db) -> None:
    dave = get_user_model().objects.create(username="dave", is_active=False)
    key = Token.objects.create(user=dave).key
    for client in (client_with(key), client_with("0" * 40), APIClient()):
        response = post(client, GOOD)
        assert response.status_code == 401 and response.json()["detail"]
