"""Which middleware chain a request runs: a token request under /api/ skips what only a browser needs.

The full chain (settings.MIDDLEWARE) serves the admin, the pages and every request that carries a
session cookie. A request under /api/ without one can only be a token request or an anonymous one:
it has no session to load, no user to look up from one, no CSRF-protected credentials and no
messages, so it runs settings.API_MIDDLEWARE instead (docs/design.md, "The API's request path").
Keyed on the session cookie, not only the path, so that an admin user browsing the API with their
session (DRF's SessionAuthentication, the browsable API's forms and their CSRF cookie) keeps the
full chain and with it today's behaviour.

The switch is a middleware, first in settings.MIDDLEWARE, rather than a WSGI wrapper: every handler
then takes the same path (Granian, runserver, Django's test client and the schemathesis test), so
the API tests run the chain production runs.
"""
from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

from .errors import API_PREFIX


def takes_api_chain(request: HttpRequest) -> bool:
    """Under /api/ and without a session cookie (no Cookie header at all is the token client's case)."""
    return request.path_info.startswith(API_PREFIX) and settings.SESSION_COOKIE_NAME not in request.COOKIES


class ApiChainHandler(BaseHandler):
    """A handler whose chain is settings.API_MIDDLEWARE; only respond() is used, by ApiChain below.

    BaseHandler.load_middleware reads settings.MIDDLEWARE itself and has no parameter for another
    list. This is its synchronous branch (as in Django 5.2's BaseHandler.load_middleware) over
    API_MIDDLEWARE: the same hooks, collected in the same order, and convert_exception_to_response
    around the view and each middleware, so an exception anywhere becomes the same response as in
    the full chain (errors.py's JSON under /api/). Swapping settings.MIDDLEWARE around a call of
    the original would be shorter, but the test client loads its handlers lazily, from threads too.
    """

    def load_middleware(self, is_async: bool = False) -> None:
        if is_async:
            raise ImproperlyConfigured("the API middleware chain is synchronous (the site is served by WSGI)")
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for middleware_path in reversed(settings.API_MIDDLEWARE):
            middleware = import_string(middleware_path)
            if not getattr(middleware, "sync_capable", True):
                raise ImproperlyConfigured(f"{middleware_path} cannot run synchronously: not in API_MIDDLEWARE")
            try:
                instance = middleware(handler)
            except MiddlewareNotUsed:
                continue
            if instance is None:
                raise ImproperlyConfigured(f"Middleware factory {middleware_path} returned None.")
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, self.adapt_method_mode(False, instance.process_view))
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(
                    self.adapt_method_mode(False, instance.process_template_response))
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(self.adapt_method_mode(False, instance.process_exception))
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler

    def respond(self, request: HttpRequest) -> HttpResponse:
        """The chain's response. Not get_response(): the outer handler has set the URLconf up, and
        closes the request and logs an error response itself."""
        return self._middleware_chain(request)


class ApiChain:
    """First in settings.MIDDLEWARE: sends a request that takes_api_chain() down API_MIDDLEWARE,
    any other down the rest of MIDDLEWARE."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.api = ApiChainHandler()
        self.api.load_middleware()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if takes_api_chain(request):
            return self.api.respond(request)
        return self.get_response(request)
