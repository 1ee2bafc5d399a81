"""Which middleware chain a request takes (orders_site/api/routing.py): no I/O, requests built in memory."""
from __future__ import annotations

import pytest
from django.conf import settings
from django.test import RequestFactory

from orders_site.api.routing import ApiChainHandler, takes_api_chain


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


def test_the_api_chain_runs_api_middleware_in_order_and_collects_no_view_hooks(settings) -> None:
    # given an API chain of two middleware that record the order they run in
    ran: list[str] = []
    First.ran = Second.ran = ran
    settings.API_MIDDLEWARE = ["tests.unit.test_api_routing.First", "tests.unit.test_api_routing.Second"]
    handler = ApiChainHandler()
    handler.load_middleware()
    # when a request goes through it
    response = handler.respond(RequestFactory().get("/api/nowhere/"))
    # then the first listed ran first, the view's 404 came back as the API's JSON, and no view hook
    # of the full chain (CsrfViewMiddleware's process_view) was collected
    assert ran == ["First", "Second"]
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert handler._view_middleware == [] and handler._exception_middleware == []


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
