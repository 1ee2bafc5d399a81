"""Which middleware chain a request takes (orders_site/api/routing.py): no I/O, requests built in memory."""
from __future__ import annotations

import pytest
from django.conf import settings
from django.test import RequestFactory

from orders_site.api.routing import ApiChainHandler, takes_api_chain

django_settings_api_middleware = list(settings.API_MIDDLEWARE)


@pytest.mark.parametrize(("path", "cookies", "api_chain"), [
    ("/api/orders/", {}, True),
    ("/api/", {}, True),
    ("/api/orders/", {"csrftoken": "x"}, True),  # a CSRF cookie alone authenticates nobody
    ("/api/orders/", {"sessionid": "x"}, False),  # a session may authenticate: the full chain's middleware
    ("/admin/", {}, False),
    ("/apis/", {}, False),
    ("/metrics", {}, False),
])
def test_only_api_requests_without_a_session_cookie_take_the_api_chain(
        path: str, cookies: dict[str, str], api_chain: bool) -> None:
    factory = RequestFactory()
    factory.cookies.load(cookies)
    assert takes_api_chain(factory.get(path)) is api_chain


def test_the_api_chain_runs_api_middleware_in_order(settings) -> None:
    # given an API chain of two middleware that record the order they run in
    ran: list[str] = []
    First.ran = Second.ran = ran
    settings.API_MIDDLEWARE = ["tests.unit.test_api_routing.First", "tests.unit.test_api_routing.Second"]
    handler = ApiChainHandler()
    handler.load_middleware()
    # when a request goes through it
    response = handler.respond(RequestFactory().get("/api/nowhere/"))
    # then the first listed ran first, and the view's 404 came back as the API's JSON
    assert ran == ["First", "Second"]
    assert response.status_code == 404 and response["Content-Type"] == "application/json"


class _Recording:
    ran: list[str] = []

    def __init__(self, get_response) -> None:  # noqa: ANN001
        self.get_response = get_response

    def __call__(self, request):  # noqa: ANN001, ANN204
        self.ran.append(type(self).__name__)
        return self.get_response(request)


class First(_Recording):
    pass


class Second(_Recording):
    pass


def test_the_settings_api_chain_starts_with_observability() -> None:
    assert settings.API_MIDDLEWARE[0] == settings.MIDDLEWARE[1] == "orders_site.observability.middleware.RequestObservability"
    assert settings.MIDDLEWARE[0] == "orders_site.api.routing.ApiChain"


class Hooked(_Recording):
    def process_view(self, request, view, args, kwargs):  # noqa: ANN001, ANN201
        return None

    def process_exception(self, request, exception):  # noqa: ANN001, ANN201
        return None


class AlsoHooked(Hooked):
    pass


def test_the_api_chain_collects_hooks_in_djangos_order_and_the_settings_chain_has_none(settings) -> None:
    settings.API_MIDDLEWARE = ["tests.unit.test_api_routing.Hooked", "tests.unit.test_api_routing.AlsoHooked"]
    handler = ApiChainHandler()
    handler.load_middleware()
    # view hooks run first-listed first, exception hooks last-listed first (as BaseHandler collects them)
    assert [type(h.__self__).__name__ for h in handler._view_middleware] == ["Hooked", "AlsoHooked"]
    assert [type(h.__self__).__name__ for h in handler._exception_middleware] == ["AlsoHooked", "Hooked"]
    # and the real API chain has no view hook (CsrfViewMiddleware's process_view is the full chain's)
    settings.API_MIDDLEWARE = django_settings_api_middleware
    handler = ApiChainHandler()
    handler.load_middleware()
    assert handler._view_middleware == []


def test_the_plain_checkout_view_mirrors_drfs_settings_for_the_api() -> None:
    # checkout.py authenticates as these settings say, by hand: a change here must change it too
    from rest_framework.settings import api_settings

    from orders_site.api.authentication import FastTokenAuthentication

    assert [c.__name__ for c in api_settings.DEFAULT_AUTHENTICATION_CLASSES] == [
        FastTokenAuthentication.__name__, "SessionAuthentication"]
    assert [c.__name__ for c in api_settings.DEFAULT_PERMISSION_CLASSES] == ["IsAuthenticated"]
    assert not api_settings.DEFAULT_THROTTLE_CLASSES
