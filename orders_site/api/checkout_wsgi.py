"""POST /api/orders/ with a token, answered at the WSGI layer ahead of Django's handler
(docs/design.md, "The checkout's own entry").

Why: the checkout is the hot path, and measured A/B on the same stack (two servers side by side,
alternating 10 s windows at 4 connections, docs/benchmarks.md "Checkout API, fifth pass") Django's
request handling around the view -- the WSGIRequest, the API middleware chain, the URL resolver and
the observability middleware's per-request plumbing -- cost ~0.7 ms of the web's ~3 ms per checkout.

What it takes: a POST to exactly /api/orders/ carrying `Authorization: Token ...`, no session cookie, a Host
Django would accept, under settings where the API chain (settings.API_MIDDLEWARE) would only add its
fixed headers. Everything else goes to Django untouched, before the body is read: a browser with a
session, a Host Django refuses (an empty one too), another scheme or none, DEBUG, FORCE_SCRIPT_NAME, an HTTPS redirect or HSTS to apply, an API chain
that is not the one this module knows.

What it answers is the view's answer: both call checkout.answer_checkout (and the same body reader
and token query); the response gets what the API chain adds (X-Correlation-ID, Content-Length,
SecurityMiddleware's headers, Server-Timing when on) and the request is observed as
RequestObservability observes it: the same metrics and log lines. The request_started and
request_finished signals are sent, so Django's connection housekeeping (CONN_MAX_AGE, health checks)
runs as for any request. tests/integration/test_checkout_wsgi.py sends the same requests through both
and compares status, headers, body and what was written; the API tests' clients take this entry
too (tests/integration/conftest.py), as production's server does.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.signals import got_request_exception, request_finished, request_started
from django.http.cookie import parse_cookie
from django.http.request import split_domain_port, validate_host
from django.utils.http import parse_header_parameters
from rest_framework import exceptions

from orders_site.observability import correlation
from orders_site.observability.middleware import CHECKOUT_ROUTE, correlated, observe

from . import errors, timing
from .authentication import fetch_token_user, key_in_header
from .body import MAX_BODY_BYTES, check_head, parse_json
from .checkout import answer_checkout, error_answer
from .responses import Answer, json_bytes

PATH = "/api/orders/"  # CHECKOUT_ROUTE under the URLconf's api/ (held equal by the tests)

# The chain this module stands in for. Another list (a middleware added to it) sends every request to Django.
API_CHAIN = [
    "orders_site.observability.middleware.RequestObservability",
    "orders_site.api.timing.ServerTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROUTER = "orders_site.api.routing.ApiChain"

Meta = dict[str, Any]  # the WSGI environ, called meta here as Django's request.META (the same dict)
WsgiApp = Callable[[Meta, Callable[..., Any]], Iterable[bytes]]
Served = tuple[str, list[tuple[str, str]], bytes]  # status line, headers, body

request_log = logging.getLogger("django.request")  # where Django's handler reports 4xx and 5xx answers


def _settings_allow() -> bool:
    """Settings under which the API chain only adds fixed headers to a checkout's response."""
    upload_limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # below the API's own: Django's 413 would come first
    return (not settings.DEBUG and not settings.SECURE_SSL_REDIRECT and not settings.SECURE_HSTS_SECONDS
            and not settings.PREPEND_WWW and not settings.DISALLOWED_USER_AGENTS
            and not settings.USE_X_FORWARDED_HOST and settings.FORCE_SCRIPT_NAME is None
            and (upload_limit is None or upload_limit >= MAX_BODY_BYTES)
            and settings.MIDDLEWARE[:1] == [ROUTER] and list(settings.API_MIDDLEWARE) == API_CHAIN)


def _host_allowed(meta: Meta) -> bool:
    """HttpRequest.get_host()'s check (with USE_X_FORWARDED_HOST off), without building the request."""
    host = meta.get("HTTP_HOST")
    if host is None:  # an empty header is checked as it is, as Django does (and refused)
        port = meta.get("SERVER_PORT", "")
        default = "443" if meta.get("wsgi.url_scheme") == "https" else "80"
        host = meta.get("SERVER_NAME", "") + ("" if port == default else f":{port}")
    domain, _ = split_domain_port(host)
    return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)


def takes(meta: Meta) -> bool:
    """Whether this entry answers the request; False leaves it, body unread, to Django."""
    return (meta.get("REQUEST_METHOD") == "POST" and meta.get("PATH_INFO") == PATH
            and not meta.get("SCRIPT_NAME") and meta.get("HTTP_AUTHORIZATION", "")[:6].lower() == "token "
            and _without_session(meta) and _settings_allow() and _host_allowed(meta))


def _without_session(meta: Meta) -> bool:
    """routing.takes_api_chain's test: no session cookie (a browser's request keeps Django's full chain)."""
    cookie = meta.get("HTTP_COOKIE")
    return not cookie or settings.SESSION_COOKIE_NAME not in parse_cookie(cookie)


def _security_headers() -> list[tuple[str, str]]:
    """SecurityMiddleware's response headers for a plain-HTTP request (HSTS and the redirect are off: _settings_allow)."""
    headers: list[tuple[str, str]] = []
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append(("X-Content-Type-Options", "nosniff"))
    policy = settings.SECURE_REFERRER_POLICY
    if policy:
        values = [v.strip() for v in policy.split(",")] if isinstance(policy, str) else policy
        headers.append(("Referrer-Policy", ",".join(values)))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    return headers


def _answer(meta: Meta, cid: uuid.UUID, laps: timing.Laps) -> Answer:
    """The checkout's answer: token, body, then answer_checkout, as checkout.place_order does."""
    try:
        # WSGI gives headers as ISO-8859-1 text; get_authorization_header's encoding turns it back into bytes.
        key = key_in_header(meta["HTTP_AUTHORIZATION"].encode("iso-8859-1"))
        if key is None:  # cannot happen after takes(): the header starts with "Token "
            raise exceptions.NotAuthenticated()
        user_id = fetch_token_user(key)["id"]
    except exceptions.APIException as exc:
        return error_answer(exc)
    laps.lap("auth")
    media_type, params = parse_header_parameters(meta.get("CONTENT_TYPE", ""))
    try:
        length = check_head(media_type, meta.get("CONTENT_LENGTH"))
        # Django's LimitedStream reads nothing for a length of 0 or less (none declared, chunked, negative).
        body = parse_json(meta["wsgi.input"].read(length) if length > 0 else b"", media_type, params.get("charset"))
    except exceptions.APIException as exc:
        return error_answer(exc)
    return answer_checkout(user_id, body, meta.get("HTTP_IDEMPOTENCY_KEY"), path=PATH, correlation_id=cid,
                           laps=laps)


def _server_error() -> bytes:
    """As Django's handler meets an exception: the signal, the traceback logged, errors.server_error's
    JSON body (returned). Call it from an `except` block."""
    got_request_exception.send(sender=routed, request=None)
    request_log.error("Internal Server Error: %s", PATH, exc_info=True, extra={"status_code": 500})
    return errors.detail_body(errors.SERVER_ERROR)


def serve(meta: Meta) -> Served:
    """Answer a request takes() took. Signals are the caller's (routed() below, or a test's handler)."""
    laps = timing.Laps()
    given = meta.get(correlation.META_KEY)
    with correlated(given) as (cid, accepted):
        laps.lap("framework")
        try:
            answer = _answer(meta, cid, laps)
            body = json_bytes(answer.body)
        except Exception:  # noqa: BLE001 - answered as Django's handler answers any exception
            answer, body = Answer(500, None), _server_error()
        headers = [("Content-Type", "application/json"), *answer.headers.items(),
                   (correlation.HEADER, str(cid))]
        if timing.enabled():
            headers.append(("Server-Timing", timing.server_timing(laps)))
        headers += [*_security_headers(), ("Content-Length", str(len(body)))]
        observe("POST", CHECKOUT_ROUTE, answer.status, answer.headers, time.perf_counter() - laps.started,
                replaced=bool(given) and not accepted)
        if 400 <= answer.status < 500:  # as Django's handler logs every 4xx, after the middleware (log_response)
            request_log.warning("%s: %s", HTTPStatus(answer.status).phrase, PATH, extra={"status_code": answer.status})
        return f"{answer.status} {HTTPStatus(answer.status).phrase}", headers, body


def routed(django_app: WsgiApp) -> WsgiApp:
    """`django_app`, with the checkouts takes() accepts answered here."""
    def application(meta: Meta, start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not takes(meta):
            return django_app(meta, start_response)
        request_started.send(sender=routed, environ=meta)
        try:
            status, headers, body = serve(meta)
        except Exception:  # noqa: BLE001 - outside the answer (observing it, its headers): still JSON, not the server's page
            body = _server_error()
            status, headers = "500 Internal Server Error", [("Content-Type", "application/json"),
                                                            ("Content-Length", str(len(body)))]
        finally:
            request_finished.send(sender=routed)
        start_response(status, headers)
        return [body]
    return application
