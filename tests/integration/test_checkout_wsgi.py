"""The checkout's WSGI entry (orders_site/api/checkout_wsgi.py) answers as the Django view does.

Each case is sent twice, by two users with their own tokens: through Django's handler (the view) and
through the entry. Status, headers, body, what was written, the log lines and the 500 must agree; and
everything the entry does not take reaches Django with its body unread.
"""
from __future__ import annotations

import io
import json
import re
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import RequestFactory, override_settings
from django.urls import resolve, reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from orders_site.api import checkout_wsgi
from orders_site.api.body import MAX_BODY_BYTES
from orders_site.api.models import IdempotencyRecord
from orders_site.eventstore.models import StoredEvent
from orders_site.observability import logs
from orders_site.observability.middleware import CHECKOUT_ROUTE
from orders_site.orders.models import Order

from .conftest import EntryAPIClient

pytestmark = pytest.mark.usefixtures("catalog")

GOOD = {"items": [{"sku": "KB-001", "quantity": 2}, {"sku": "MS-002", "quantity": 1}], "payment_method": "card",
        "shipping_note": "leave at the door"}
JSON = "application/json"
# body, content type, headers (in a value: {side} is "view" or "entry", {token} the side's token, {inactive}
# an inactive user's token)
Request = tuple[bytes, str, dict[str, str]]


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


# Each case: the requests one side sends in turn; the last answer is compared (earlier ones set it up).
CASES: dict[str, list[Request]] = {
    "placed with a key": [(body(GOOD), JSON, {"Idempotency-Key": "{side}-1"})],
    "placed without a key": [(body(GOOD), JSON, {})],
    "placed, +json media type": [(body(GOOD), "application/vnd.orders+json; charset=utf-8", {})],
    "replayed": [(body(GOOD), JSON, {"Idempotency-Key": "{side}-2"})] * 2,
    "key reused with another body": [(body(GOOD), JSON, {"Idempotency-Key": "{side}-3"}),
                                     (body(GOOD | {"payment_method": "wallet"}), JSON, {"Idempotency-Key": "{side}-3"})],
    "blank key": [(body(GOOD), JSON, {"Idempotency-Key": " "})],
    "invalid fields": [(body({"items": [{"sku": "", "quantity": 0, "colour": "red"}], "payment_method": "cash"}),
                        JSON, {"Idempotency-Key": "{side}-4"})],
    "invalid fields, replayed": [(body({"items": []}), JSON, {"Idempotency-Key": "{side}-5"})] * 2,
    "unknown sku": [(body({"items": [{"sku": "NOPE", "quantity": 1}], "payment_method": "card"}), JSON, {})],
    "not json": [(b"{not json", JSON, {})],
    "nested too deep": [(b"[" * 5000 + b"]" * 5000, JSON, {})],
    "not an object": [(b"[]", JSON, {})],
    "not utf-8": [(b'{"items": "\xff"}', JSON, {})],
    "form media type": [(b"items=KB-001", "application/x-www-form-urlencoded", {})],
    "latin-1 charset": [(body(GOOD), "application/json; charset=latin-1", {})],
    "empty charset": [(body(GOOD), "application/json; charset=", {})],
    "too large": [(b" " * (MAX_BODY_BYTES + 1), JSON, {})],
    "unknown token": [(body(GOOD), JSON, {"Authorization": "Token " + "0" * 40})],
    "token with spaces": [(body(GOOD), JSON, {"Authorization": "Token a b"})],
    "token with nul": [(body(GOOD), JSON, {"Authorization": "token \x00"})],
    "inactive user": [(body(GOOD), JSON, {"Authorization": "Token {inactive}"})],
    "lower-case scheme": [(body(GOOD), JSON, {"Authorization": "token {token}"})],
    "token not ASCII": [(body(GOOD), JSON, {"Authorization": "Token \u00e9t\u00e9"})],
    "correlation id given": [(body(GOOD), JSON, {"X-Correlation-ID": "1f0e6f8e-0d5a-4c58-9d2a-0b8f4c3b2a19"})],
    "correlation id replaced": [(body(GOOD), JSON, {"X-Correlation-ID": "not-a-uuid"})],
}
# The status each case ends with: a case answered otherwise on both paths is not testing what it says.
EXPECTED = {
    "placed with a key": 201,
    "placed without a key": 201,
    "placed, +json media type": 201,
    "replayed": 201,
    "key reused with another body": 422,
    "blank key": 400,
    "invalid fields": 400,
    "invalid fields, replayed": 400,
    "unknown sku": 400,
    "not json": 400,
    "nested too deep": 400,
    "not an object": 400,
    "not utf-8": 400,
    "form media type": 415,
    "latin-1 charset": 415,
    "empty charset": 415,
    "too large": 413,
    "unknown token": 401,
    "token with spaces": 401,
    "token with nul": 401,
    "inactive user": 401,
    "lower-case scheme": 201,
    "token not ASCII": 401,
    "correlation id given": 201,
    "correlation id replaced": 201}


def token_of(username: str, **fields: Any) -> str:
    user = get_user_model().objects.create(username=username, **fields)
    return Token.objects.create(user=user).key


def send(client: APIClient, request: Request, side: str, inactive: str, **meta: str) -> Any:
    content, content_type, headers = request
    credentials = client._credentials
    headers = {k: v.format(side=side, inactive=inactive, token=credentials["HTTP_AUTHORIZATION"].split()[1])
               for k, v in headers.items()}
    if "Authorization" in headers:  # APIClient's credentials would override the request's own header
        client._credentials = {}
    try:
        return client.generic("POST", "/api/orders/", content, content_type=content_type, headers=headers, **meta)
    finally:
        client._credentials = credentials


def normal_body(response: Any) -> Any:
    """The body with what differs between two orders (ids, numbers, moments) blanked."""
    value = json.loads(response.content)
    if isinstance(value, dict) and response.status_code in (200, 201):
        value = {k: "*" if k in ("id", "number", "created_at", "updated_at") else v for k, v in value.items()}
    return value


def normal_headers(response: Any, given_cid: str | None) -> dict[str, str]:
    headers = {k.lower(): v for k, v in response.headers.items()}
    if "server-timing" in headers:  # the layers' names, not their durations
        headers["server-timing"] = ",".join(part.split(";")[0] for part in headers["server-timing"].split(", "))
    cid = headers.pop("x-correlation-id")
    assert cid == given_cid if given_cid and given_cid != "not-a-uuid" else uuid.UUID(cid)
    if "location" in headers:
        assert re.fullmatch(r"/api/orders/[0-9a-f-]{36}/", headers["location"])
        headers["location"] = "*"
    return headers


def written_by(username: str) -> tuple[int, int, int]:
    user = get_user_model().objects.get(username=username)
    orders = Order.objects.filter(customer_id=user.pk)
    events = StoredEvent.objects.filter(aggregate_id__in=[str(pk) for pk in orders.values_list("pk", flat=True)])
    return orders.count(), events.count(), IdempotencyRecord.objects.filter(user_id=user.pk).count()


@pytest.mark.parametrize("case", CASES)
def test_the_entry_answers_as_the_view(db, case: str) -> None:
    # given a customer on each side, each with a token, and an inactive user's token
    view, entry = APIClient(), EntryAPIClient()
    view.credentials(HTTP_AUTHORIZATION=f"Token {token_of('view')}")
    entry.credentials(HTTP_AUTHORIZATION=f"Token {token_of('entry')}")
    inactive = token_of("gone", is_active=False)
    # when each side sends the case's requests
    answers = {}
    for side, client in (("view", view), ("entry", entry)):
        for request in CASES[case]:
            answers[side] = send(client, request, side, inactive)
    # then the entry answered them, and as the view did
    assert getattr(answers["entry"], "served_by_entry", False) and not hasattr(answers["view"], "served_by_entry")
    given_cid = CASES[case][-1][2].get("X-Correlation-ID")
    assert answers["entry"].status_code == answers["view"].status_code == EXPECTED[case], answers["view"].content
    assert normal_headers(answers["entry"], given_cid) == normal_headers(answers["view"], given_cid)
    assert normal_body(answers["entry"]) == normal_body(answers["view"])
    # and wrote the same: orders, their events, the key rows
    assert written_by("entry") == written_by("view")


def two_sides() -> tuple[APIClient, EntryAPIClient]:
    view, entry = APIClient(), EntryAPIClient()
    view.credentials(HTTP_AUTHORIZATION=f"Token {token_of('view')}")
    entry.credentials(HTTP_AUTHORIZATION=f"Token {token_of('entry')}")
    return view, entry


@pytest.mark.parametrize(("content_length", "status"), [("abc", 400), ("-1", 400), ("0", 400), ("", 400)])
def test_a_declared_length_is_read_as_django_reads_it(db, content_length: str, status: int) -> None:
    answers = [send(c, (body(GOOD), JSON, {}), "", "", CONTENT_LENGTH=content_length) for c in two_sides()]
    assert [a.status_code for a in answers] == [status, status]
    assert answers[0].json() == answers[1].json() and getattr(answers[1], "served_by_entry", False)
    assert not Order.objects.exists()


@override_settings(API_SERVER_TIMING=True)
def test_server_timing_names_the_same_layers(db) -> None:
    answers = [send(c, (body(GOOD), JSON, {"Idempotency-Key": f"t-{side}"}), side, "")
               for side, c in zip(("view", "entry"), two_sides())]
    layers = [normal_headers(a, None)["server-timing"] for a in answers]
    assert layers[0] == layers[1] and layers[1].startswith("framework,auth,validation,order,idempotency")


def test_a_placed_order_is_the_same_order_on_both_paths(db) -> None:
    view, entry = APIClient(), EntryAPIClient()
    view.credentials(HTTP_AUTHORIZATION=f"Token {token_of('view')}")
    entry.credentials(HTTP_AUTHORIZATION=f"Token {token_of('entry')}")
    cid = str(uuid.uuid4())
    placed = [send(c, (body(GOOD), JSON, {"X-Correlation-ID": cid}), side, "")
              for side, c in (("view", view), ("entry", entry))]
    assert [p.status_code for p in placed] == [201, 201]
    events = [StoredEvent.objects.get(aggregate_id=p.json()["id"]) for p in placed]
    assert {e.correlation_id for e in events} == {uuid.UUID(cid)}
    assert events[0].event_type == events[1].event_type == "OrderCreated"
    assert len({e.schema_fingerprint for e in events}) == 1
    # the detail view shows what the 201 said (and more: history, delivery), for both
    for p, client in zip(placed, (view, entry)):
        detail = client.get(p["Location"]).json()
        assert {k: detail[k] for k in p.json()} == p.json()


def log_lines(client: APIClient, request: Request, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    written = io.StringIO()
    monkeypatch.setattr(sys, "stderr", written)
    logs.configure(process="web", json=True)
    try:
        send(client, request, "", "")
    finally:
        monkeypatch.undo()
        logs.configure()
    ignored = {"timestamp", "duration_ms", "correlation_id", "order_id"}
    return [{k: v for k, v in json.loads(line).items() if k not in ignored} for line in written.getvalue().splitlines()]


@pytest.mark.parametrize(("request_", "events"), [
    ((body(GOOD), JSON, {"Idempotency-Key": "log-1"}), ["request", "checkout"]),
    ((body({"items": []}), JSON, {}), ["request", "checkout", "Bad Request: /api/orders/"]),
    ((body(GOOD), JSON, {"Authorization": "Token " + "0" * 40}), ["request", "checkout", "Unauthorized: /api/orders/"]),
])
def test_the_entry_logs_the_lines_django_logs(db, monkeypatch: pytest.MonkeyPatch, request_: Request,
                                              events: list[str]) -> None:
    view, entry = two_sides()
    from_view, from_entry = log_lines(view, request_, monkeypatch), log_lines(entry, request_, monkeypatch)
    assert [line["event"] for line in from_entry] == events
    assert from_entry == from_view


def test_an_unexpected_error_is_the_same_json_500_and_logged(db, monkeypatch: pytest.MonkeyPatch,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    view, entry = APIClient(raise_request_exception=False), EntryAPIClient(raise_request_exception=False)
    view.credentials(HTTP_AUTHORIZATION=f"Token {token_of('view')}")
    entry.credentials(HTTP_AUTHORIZATION=f"Token {token_of('entry')}")
    monkeypatch.setattr("orders_site.api.checkout.answer_checkout", fail)
    monkeypatch.setattr("orders_site.api.checkout_wsgi.answer_checkout", fail)
    answers = [send(c, (body(GOOD), JSON, {}), "", "") for c in (view, entry)]
    assert [a.status_code for a in answers] == [500, 500]
    assert answers[0].json() == answers[1].json() == {"detail": "A server error occurred."}
    assert normal_headers(answers[1], None) == normal_headers(answers[0], None)
    errors = [r for r in caplog.records if r.name == "django.request" and r.levelname == "ERROR"]
    assert len(errors) == 2 and all(r.exc_info and "went away" in str(r.exc_info[1]) for r in errors)


def test_the_entry_serves_the_urlconfs_checkout_path() -> None:
    assert reverse("orders") == checkout_wsgi.PATH
    assert resolve(checkout_wsgi.PATH).route == CHECKOUT_ROUTE


def environ(path: str = "/api/orders/", method: str = "POST", **extra: str) -> dict[str, Any]:
    headers = {"HTTP_AUTHORIZATION": "Token abc", **extra}
    return RequestFactory().generic(method, path, b"{}", content_type=JSON, **headers).environ


@pytest.mark.parametrize(("name", "request_environ", "settings_override"), [
    ("a GET", lambda: environ(method="GET"), {}),
    ("another path", lambda: environ("/api/orders"), {}),
    ("under a script name", lambda: environ(SCRIPT_NAME="/shop"), {}),
    ("a cookie (a browser's session)", lambda: environ(HTTP_COOKIE="sessionid=abc"), {}),
    ("another scheme", lambda: environ(HTTP_AUTHORIZATION="Basic YWxpY2U6c2VjcmV0"), {}),
    ("no credentials", lambda: {k: v for k, v in environ().items() if k != "HTTP_AUTHORIZATION"}, {}),
    ("a Host Django refuses", lambda: environ(HTTP_HOST="evil.example"), {}),
    ("an empty Host", lambda: environ(HTTP_HOST=""), {}),
    ("DEBUG", environ, {"DEBUG": True}),
    ("an HTTPS redirect", environ, {"SECURE_SSL_REDIRECT": True}),
    ("HSTS", environ, {"SECURE_HSTS_SECONDS": 3600}),
    ("forwarded hosts", environ, {"USE_X_FORWARDED_HOST": True}),
    ("PREPEND_WWW", environ, {"PREPEND_WWW": True}),
    ("refused user agents", environ, {"DISALLOWED_USER_AGENTS": [re.compile("bot")]}),
    ("a forced script name", environ, {"FORCE_SCRIPT_NAME": "/shop"}),
    ("Django's upload limit below the API's", environ, {"DATA_UPLOAD_MAX_MEMORY_SIZE": 1024}),
    ("another API chain", environ, {"API_MIDDLEWARE": [*checkout_wsgi.API_CHAIN, "x.Y"]}),
])
def test_what_the_entry_does_not_take_goes_to_django(name: str, request_environ: Any,
                                                     settings_override: dict[str, Any]) -> None:
    assert checkout_wsgi.takes(environ()), "the baseline request is taken"
    with override_settings(**settings_override):
        assert not checkout_wsgi.takes(request_environ()), name


@pytest.fixture
def keep_test_connection() -> Iterator[None]:
    """routed() sends the request signals as Django's handler does; close_old_connections would end the
    test's transaction (Django's test client leaves it out the same way)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_routed_answers_what_it_takes_and_hands_the_rest_to_django_unread(db, keep_test_connection: None) -> None:
    seen: list[bytes] = []

    def django_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))
        start_response("418 I'm a teapot", [])
        return [b""]

    app = checkout_wsgi.routed(django_app)
    statuses: list[str] = []
    token = token_of("wsgi")
    taken = RequestFactory().post("/api/orders/", body(GOOD), content_type=JSON,
                                  HTTP_AUTHORIZATION=f"Token {token}").environ
    answer = b"".join(app(taken, lambda status, headers: statuses.append(status)))
    assert statuses == ["201 Created"] and json.loads(answer)["status"] == "ORDERED" and not seen
    left = RequestFactory().post("/api/orders/", body(GOOD), content_type=JSON, HTTP_COOKIE="sessionid=abc",
                                 HTTP_AUTHORIZATION=f"Token {token}").environ
    app(left, lambda status, headers: statuses.append(status))
    assert statuses[-1] == "418 I'm a teapot" and seen == [body(GOOD)]


@pytest.mark.django_db(transaction=True)
def test_a_connection_broken_under_a_checkout_is_replaced_for_the_next_one(catalog: None,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # given a token, and the web's database connection killed by the server (a restart, a failover)
    from django.db import connection

    token = token_of("reconnect")
    app = checkout_wsgi.routed(lambda meta, start_response: [b""])

    def checkout() -> tuple[str, dict[str, Any]]:
        statuses: list[str] = []
        meta = RequestFactory().post("/api/orders/", body(GOOD), content_type=JSON,
                                     HTTP_AUTHORIZATION=f"Token {token}").environ
        answer = b"".join(app(meta, lambda status, headers: statuses.append(status)))
        return statuses[0], json.loads(answer)

    # A persistent connection, as production's (the test settings close it after each request).
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    connection.close()
    assert checkout()[0] == "201 Created"
    pid = connection.connection.info.backend_pid
    from django.db import connections
    other = connections.create_connection("default")
    try:
        with other.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()
    # when the next checkout meets the dead connection, and one more follows
    failed, recovered = checkout(), checkout()
    # then the first is the JSON 500 and Django's request_finished housekeeping drops the broken
    # connection, so the second reconnects and places its order
    assert failed == ("500 Internal Server Error", {"detail": "A server error occurred."})
    assert recovered[0] == "201 Created" and recovered[1]["status"] == "ORDERED"
    assert connection.connection.info.backend_pid != pid


def test_an_error_while_observing_is_still_a_json_500(db, keep_test_connection: None, monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the metrics directory is full")

    monkeypatch.setattr(checkout_wsgi, "observe", fail)
    statuses: list[tuple[str, list[tuple[str, str]]]] = []
    meta = RequestFactory().post("/api/orders/", body(GOOD), content_type=JSON,
                                 HTTP_AUTHORIZATION=f"Token {token_of('observed')}").environ
    answer = b"".join(checkout_wsgi.routed(lambda *a: [b""])(meta, lambda s, h: statuses.append((s, h))))
    assert statuses[0][0] == "500 Internal Server Error" and json.loads(answer) == {"detail": "A server error occurred."}
    assert ("Content-Type", "application/json") in statuses[0][1]
    assert any(r.name == "django.request" and "metrics directory" in str(r.exc_info[1]) for r in caplog.records)
