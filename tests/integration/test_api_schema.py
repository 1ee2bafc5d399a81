"""Property-based: the API against its own OpenAPI schema (schemathesis, every built-in check).

Given the schema the app serves at /api/schema/ and a catalog, when schemathesis sends generated
requests (valid and invalid) to every operation, and walks the schema's links (a created order ->
its detail, its history, and whatever else is declared under /api/orders/{order_id}/), then no
response is a 5xx, every status is documented, every response matches its schema, valid data is
accepted and invalid data is rejected. A new endpoint is covered as soon as it is in the schema.

Bounded (a few examples per operation, short stateful runs, derandomized) so it takes well under a
minute in `make test`. The only help the generator gets: a generated valid body names SKUs of the
test catalog (SKUs are data, not schema), and a generated valid Idempotency-Key is made unique
(a key reused with another body is a 422 by design, tested in test_idempotency.py).
"""
from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.config import SchemathesisConfig

from orders_site.api import checkout_wsgi
from orders_site.catalog.services import receive_product
from orders_site.orders.checkout import MAX_LINES

CATALOG = [f"ST-{n:03d}" for n in range(MAX_LINES)]  # enough distinct SKUs for the largest valid basket
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
STATEFUL = settings(max_examples=8, stateful_step_count=6, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))

# Stateful runs follow the schema's own links only: schemathesis' inference would take the `sku` of a
# checkout and the X-Correlation-ID header for references to resources nothing creates, and then
# never start a walk with a checkout.
CONFIG = SchemathesisConfig.from_dict({"phases": {"stateful": {"inference": {"algorithms": []}}}})
# The application as wsgi.py builds it: the checkout then takes its own WSGI entry, as in production.
schema = schemathesis.openapi.from_wsgi("/api/schema/", checkout_wsgi.routed(get_wsgi_application()), config=CONFIG)
_keys = itertools.count()
TOKEN = "schema-test-" + "0" * 28  # the key the fixture gives its user (a test's rows roll back after it)


@schema.auth()
class TokenAuth:
    """How schemathesis authenticates; its ignored_auth check knows to try without and with bad tokens."""

    def get(self, case, context):  # noqa: ANN001, ANN201
        return TOKEN

    def set(self, case, data, context):  # noqa: ANN001, ANN201
        case.headers = {**(case.headers or {}), "Authorization": f"Token {data}"}


@schema.hook
def map_case(context, case):  # noqa: ANN001, ANN201 - schemathesis' hook protocol
    """Valid generated checkouts name catalog SKUs and a fresh Idempotency-Key; invalid ones stay as made."""
    generated_valid = case.meta is None or case.meta.generation.mode.is_positive
    if case.operation.method.upper() == "POST" and case.operation.path == "/api/orders/" and generated_valid:
        if isinstance(case.body, dict) and isinstance(case.body.get("items"), list):
            for n, item in enumerate(case.body["items"]):
                if isinstance(item, dict) and isinstance(item.get("sku"), str):
                    item["sku"] = CATALOG[n % len(CATALOG)]
        if case.headers and isinstance(case.headers.get("Idempotency-Key"), str):
            case.headers["Idempotency-Key"] = f"{case.headers['Idempotency-Key'][:200]}-{next(_keys)}"
    return case


@pytest.fixture
def token(db) -> Iterator[str]:
    for sku in CATALOG:
        receive_product(sku=sku, name=f"Schema test {sku}", price_minor=1000, quantity=1_000_000)
    receive_product(sku="KB-001", name="Keyboard", price_minor=8900, quantity=1_000)  # the schema's example
    user = get_user_model().objects.create(username=f"schema-{uuid.uuid4().hex[:8]}")
    # The WSGI handler closes the database connection after each request, and with it the test's
    # transaction; Django's own test client keeps it open the same way.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    Token.objects.create(user=user, key=TOKEN)
    try:
        yield TOKEN
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@schema.parametrize()
@SETTINGS
def test_every_operation_answers_as_documented(case, token: str) -> None:  # noqa: ANN001
    case.call_and_validate()


def test_links_between_operations_hold(token: str) -> None:
    seen: Counter[tuple[str, int]] = Counter()

    class Workflow(schema.as_state_machine()):
        def after_call(self, response, case):  # noqa: ANN001, ANN201
            super().after_call(response, case)
            seen[(f"{case.method.upper()} {case.operation.path}", response.status_code)] += 1

    Workflow.run(settings=STATEFUL)
    # and the walk went somewhere: orders were placed, and a link from one reached its detail
    assert seen[("POST /api/orders/", 201)] > 0, seen
    assert seen[("GET /api/orders/{order_id}/", 200)] > 0, seen
