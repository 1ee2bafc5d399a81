"""The API's request path (orders_site/api/routing.py, checkout.py): a token request under /api/ runs the
short middleware chain and a plain checkout view, with DRF's answers; a session keeps the full chain."""
from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate

from orders_site.api import views
from orders_site.orders.models import Order

from .test_checkout_api import GOOD, post

pytestmark = pytest.mark.usefixtures("catalog")


def token_client(db, username: str = "carol", **fields: object) -> APIClient:
    user = get_user_model().objects.create(username=username, **fields)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_a_token_checkout_runs_the_api_chain_and_the_admin_the_full_one(db) -> None:
    # when a token client places an order and a staff user opens the admin
    response = post(token_client(db), GOOD)
    boss = Client()
    boss.force_login(get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-boss-123"))
    page = boss.get("/admin/")
    # then both carry SecurityMiddleware's headers and a length (CommonMiddleware), and only the admin
    # page the browser-only ones: a session's Vary: Cookie and X-Frame-Options
    assert response.status_code == 201 and page.status_code == 200
    for answer in (response, page):
        assert answer["X-Content-Type-Options"] == "nosniff" and answer.has_header("Content-Length")
    assert page["X-Frame-Options"] == "DENY" and "Cookie" in page["Vary"]
    assert not response.has_header("X-Frame-Options") and not response.has_header("Vary")
    assert not response.cookies


@pytest.mark.parametrize(("header", "detail"), [
    (None, "Authentication credentials were not provided."),
    ("Token", "Invalid token header. No credentials provided."),
    ("Token a b", "Invalid token header. Token string should not contain spaces."),
    ("Token " + "0" * 40, "Invalid token."),
    ("Token " + "0" * 41, "Invalid token."),  # longer than any key: refused without a query
    ("token \x00", "Invalid token."),  # NUL: refused before PostgreSQL, which cannot take it (not a 500)
])
def test_a_checkout_without_valid_credentials_is_drfs_401(db, django_assert_max_num_queries, header: str | None,
                                                         detail: str) -> None:
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    # a key that cannot be one (too long, NUL) is refused without the token query; the others may query
    with django_assert_max_num_queries(0 if header and ("0" * 41 in header or "\x00" in header) else 5):
        response = post(client, GOOD)
    assert response.status_code == 401
    assert response.json() == {"detail": detail} and response["WWW-Authenticate"] == "Token"
    assert response["Content-Type"] == "application/json"
    assert not Order.objects.exists()


def test_an_inactive_users_token_is_401_and_another_scheme_is_no_credentials(db) -> None:
    response = post(token_client(db, is_active=False), GOOD)
    assert response.status_code == 401 and response.json() == {"detail": "User inactive or deleted."}
    basic = APIClient()
    basic.credentials(HTTP_AUTHORIZATION="Basic YWxpY2U6c2VjcmV0")
    assert post(basic, GOOD).json() == {"detail": "Authentication credentials were not provided."}


def test_a_session_places_an_order_with_its_csrf_token_and_is_403_without(db) -> None:
    # given a logged-in staff user's browser, CSRF checks on, with the CSRF cookie the admin gave it
    browser = Client(enforce_csrf_checks=True)
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-boss-123")
    browser.force_login(user)
    browser.get("/admin/")
    csrf = browser.cookies["csrftoken"].value
    # when it posts a checkout without the token, then with it
    refused = post(browser, GOOD)
    placed = post(browser, GOOD, **{"X-CSRFToken": csrf})
    # then the first is DRF's 403 and the second places an order as that user
    assert refused.status_code == 403 and refused.json()["detail"].startswith("CSRF Failed:")
    assert placed.status_code == 201, placed.content
    assert Order.objects.get(pk=placed.json()["id"]).customer == user


def test_an_expired_session_is_401_like_no_credentials(db) -> None:
    browser = Client()
    browser.cookies["sessionid"] = "no-such-session"
    response = post(browser, GOOD)
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"


def test_the_browsable_api_and_the_docs_still_render_for_anonymous_browsers(db) -> None:
    for path in ("/api/", "/api/docs/"):
        page = Client().get(path, HTTP_ACCEPT="text/html")
        assert page.status_code == 200 and page["Content-Type"].startswith("text/html")


def test_a_host_not_allowed_is_a_json_400_under_api(db) -> None:
    response = post(token_client(db), GOOD, Host="evil.example.com")
    assert response.status_code == 400 and response.json() == {"detail": "Bad request."}
    assert not Order.objects.exists()


def test_the_drf_view_the_schema_describes_answers_a_post_as_the_checkout_view_does(alice: APIClient) -> None:
    # given the path's DRF view dispatched directly (urls.py sends a POST past it)
    request = APIRequestFactory().post("/api/orders/", json.dumps(GOOD), content_type="application/json",
                                       HTTP_IDEMPOTENCY_KEY="direct")
    force_authenticate(request, alice.user)
    response = views.OrderListCreate.as_view()(request)
    # then it places the order, and the checkout view replays it for the same key
    assert response.status_code == 201 and response["Location"] == f"/api/orders/{json.loads(response.content)['id']}/"
    replay = post(alice, GOOD, **{"Idempotency-Key": "direct"})
    assert replay["Idempotent-Replayed"] == "true" and replay.json() == json.loads(response.content)
