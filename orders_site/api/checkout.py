"""POST /api/orders/, the hot path (docs/benchmarks.md, "Checkout API"), as a plain Django view.

No DRF dispatch, Request wrapping, content negotiation or renderer: the body is read and checked by
hand (body.py, checkout_input.py), the response built from the order's state without a query
(responses.py), and each layer timed (timing.py). What DRF did for this endpoint is done here with
the same answers: token authentication, then a session's with its CSRF check, then 401 (same body
and WWW-Authenticate); its exceptions' statuses and `{"detail": ...}` bodies. What differs, with no
negotiation: the answer is always JSON (DRF answered an `Accept` it could not serve with 406, and
`Accept: text/html` with its browsable page), and DRF's `Allow` and `Vary: Accept` headers are not
sent. The OpenAPI schema still comes from views.OrderListCreate, whose `post` answers through
checkout() below too.
"""
from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.authentication import SessionAuthentication

from orders_site.observability import correlation
from orders_site.orders.checkout import CheckoutError, created_state, price_order, record_order
from orders_site.orders.projection import OrderState

from . import idempotency
from .authentication import FastTokenAuthentication, fetch_token_user, token_key
from .body import read_json
from .checkout_input import InvalidCheckout, parse_checkout
from .responses import Answer, as_response, order_body
from .timing import Laps, laps_of

# DRF answers a 401 with the first authentication class's scheme (settings.REST_FRAMEWORK).
WWW_AUTHENTICATE = FastTokenAuthentication.keyword


def authenticated_user_id(request: HttpRequest) -> int:
    """The id of the user the request authenticates as, in DRF's order for this API: token, then session.

    Raises AuthenticationFailed (bad token header, unknown token, inactive user) or NotAuthenticated
    (no credentials), both 401; or PermissionDenied (403) for a session request without its CSRF token.
    """
    forced = getattr(request, "_force_auth_user", None)  # rest_framework.test's force_authenticate, as DRF honours it
    if forced is not None:
        return forced.pk
    key = token_key(request)
    if key is not None:
        return fetch_token_user(key)["id"]
    # AuthenticationMiddleware's lazy user: only the full chain sets it, for a request with a session cookie
    # (routing.py); SessionAuthentication's rules: an active user, and the CSRF check DRF makes for it.
    user = getattr(request, "user", None)
    if user is not None and user.is_active:
        SessionAuthentication().enforce_csrf(request)
        return user.pk
    raise exceptions.NotAuthenticated()


def error_answer(exc: exceptions.APIException) -> Answer:
    """A DRF exception as DRF's exception handler answers it (the ones raised here carry a string detail)."""
    headers = {"WWW-Authenticate": WWW_AUTHENTICATE} if isinstance(
        exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)) else {}
    return Answer(exc.status_code, {"detail": exc.detail}, headers)


BODY_TOO_LARGE = Answer(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, {"detail": "the request body is too large"})


# Exempt as DRF's views are (urls.post_to's wrapper copies the DRF view's exemption, which is the one the
# CSRF middleware sees): a token cannot be sent cross-site by a browser on its own; a session's CSRF
# is checked in authenticated_user_id().
@csrf_exempt
def place_order(request: HttpRequest) -> HttpResponse:
    """Place an order: status ORDERED; stock, payment and delivery follow asynchronously."""
    laps = laps_of(request)
    laps.lap("framework")
    try:
        user_id = authenticated_user_id(request)
    except exceptions.APIException as exc:
        return as_response(error_answer(exc))
    laps.lap("auth")
    return checkout(request, user_id)


def checkout(request: HttpRequest, user_id: int) -> HttpResponse:
    """The checkout of an authenticated user's request: 201, or 400/409/413/415/422 with a JSON body."""
    try:
        body = read_json(request)  # 400 / 413 / 415 before the key is looked at
    except exceptions.APIException as exc:
        return as_response(error_answer(exc))
    except RequestDataTooBig:  # past Django's own limit, without a Content-Length (errors.exception_handler)
        return as_response(BODY_TOO_LARGE)
    # Headers from META, not request.headers: building that walks all of META (~30 us a request).
    return as_response(answer_checkout(user_id, body, request.META.get("HTTP_IDEMPOTENCY_KEY"), path=request.path,
                                       correlation_id=correlation_id_of(request), laps=laps_of(request)))


def answer_checkout(user_id: int, body: Any, key: str | None, *, path: str, correlation_id: uuid.UUID,
                    laps: Laps) -> Answer:
    """The checkout of a parsed body: 201, or 400/409/422. Shared by the view above and the WSGI
    entry (checkout_wsgi.py), so both answer alike."""
    if key is not None:
        try:
            idempotency.check_key(key)
        except idempotency.KeyInvalid as err:
            return idempotency.refusal(err)
    # Validate and price first: both only read, so the transaction below is as short as it can be
    # and the 201 is known before it opens (the key row is written already completed).
    fingerprint = (user_id, key, idempotency.fingerprint("POST", path, body)) if key is not None else None
    try:
        parsed = parse_checkout(body)
        laps.lap("validation")
        priced = price_order(user_id, parsed)
    except (InvalidCheckout, CheckoutError) as err:
        errors = err.errors if isinstance(err, InvalidCheckout) else nest_errors(err.errors)
        return _record(fingerprint, Answer(status.HTTP_400_BAD_REQUEST, errors), None, correlation_id, laps)
    state = created_state(priced)
    return _record(fingerprint, Answer(status.HTTP_201_CREATED, order_body(state)), (priced, state), correlation_id,
                   laps)


def _record(fingerprint: tuple[int, str, str] | None, answer: Answer,
            order: tuple[dict[str, Any], OrderState] | None, correlation_id: uuid.UUID, laps: Laps) -> Answer:
    """Claim the key (`fingerprint`: user, key and request fingerprint; None without a key) and record
    the order (priced, with its state; None for a rejected request) in one transaction, the answer
    stored with them; or answer as the key's first request was answered."""
    laps.lap("order")
    try:
        with transaction.atomic():  # the key, the order, its event and the stored response commit together
            if fingerprint is not None:
                claim = idempotency.claim(*fingerprint, answer)
                laps.lap("idempotency")
                if claim.replay is not None:  # nothing written: the transaction commits empty
                    replay = claim.replay
                    return replay._replace(headers={"Idempotent-Replayed": "true",
                                                    **location_of(replay.status, replay.body)})
            if order is not None:
                record_order(order[0], correlation_id=correlation_id, state=order[1])
    except (idempotency.KeyInFlight, idempotency.KeyReused) as err:
        return idempotency.refusal(err)
    laps.lap("order")
    answer = answer._replace(headers=location_of(answer.status, answer.body))
    laps.lap("response")
    return answer


def nest_errors(errors: dict[str, list[str]]) -> dict[str, Any]:
    """place_order's flat 'items[1].sku' keys, in the nested shape DRF serializers produce."""
    nested: dict[str, Any] = {}
    for path, messages in errors.items():
        if path.startswith("items[") and "]." in path:
            index, field = path[len("items["):].split("].", 1)
            items = nested.setdefault("items", [])
            while len(items) <= int(index):
                items.append({})
            items[int(index)].setdefault(field, []).extend(messages)
        else:
            nested.setdefault(path, []).extend(messages)
    return nested


def correlation_id_of(request: HttpRequest) -> uuid.UUID:
    return correlation.accept(request.META.get(correlation.META_KEY))[0]  # as the observability middleware does


def location_of(status_code: int, body: Any) -> dict[str, str]:
    """The created order's URL for a 201 (a 400's body may have an "id" key too: the unknown field's)."""
    created = status_code == status.HTTP_201_CREATED and isinstance(body, dict) and "id" in body
    return {"Location": f"/api/orders/{body['id']}/"} if created else {}
