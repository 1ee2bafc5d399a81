"""JSON error bodies under /api/: DRF's own errors, Django's 404 and 500, and client mistakes that
Django itself catches (a body too large for it, a bad Host). The admin and other pages keep HTML."""
from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views import defaults

API_PREFIX = "/api/"


SERVER_ERROR = "A server error occurred."


def detail_body(detail: str) -> bytes:
    """`{"detail": ...}` as Django's error views here write it (json.dumps' default spacing)."""
    return json.dumps({"detail": detail}).encode()


def _json(status: int, detail: str) -> HttpResponse:
    return HttpResponse(detail_body(detail), status=status, content_type="application/json")


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return _json(404, "Not found.")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return _json(500, SERVER_ERROR)
    return defaults.server_error(request)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return _json(400, "Bad request.")
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return _json(403, "You do not have permission to perform this action.")
    return defaults.permission_denied(request, exception)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Any:
    """DRF's handler, plus Django's 'request too large for Django' (RequestDataTooBig) as a JSON 413."""
    from django.core.exceptions import RequestDataTooBig
    from rest_framework.views import exception_handler as drf_handler

    if isinstance(exc, RequestDataTooBig):
        return _json(413, "the request body is too large")
    return drf_handler(exc, context)
