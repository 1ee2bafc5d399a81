"""What the OpenAPI schema says about each operation (the `extend_schema` arguments of views.py).

Every status an operation can answer is listed with its JSON body. Statuses that follow from the
framework for any operation (401 without credentials, 404 for an unknown path parameter, 403 for a
session's missing CSRF token, the `Location` header of a 201, links from a created resource to the
operations on it) are added to every operation by schema.py's hook, so a new endpoint gets them too.
"""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from orders_site.orders.models import Order
from orders_site.orders.status import OrderStatus

from .body import MAX_BODY_BYTES, MAX_DEPTH
from .idempotency import MAX_KEY_LENGTH
from orders_site.orders.checkout import MAX_LINES, MAX_QUANTITY, PAYMENT_METHODS

from .checkout_input import MAX_NOTE_LENGTH, MAX_SKU_LENGTH
from .serializers import OrderDetailSerializer, OrderSerializer, OrderStateSerializer, ProductSerializer

ERROR = inline_serializer("Error", {"detail": serializers.CharField()})
# Per-field messages in DRF's shape: {"field": ["message"], "items": [{}, {"sku": ["message"]}]}
FIELD_ERRORS = OpenApiTypes.OBJECT


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ERROR, description=description)


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": r"\S"},
    OpenApiParameter.HEADER, required=False,
    description=f"Recommended. 1-{MAX_KEY_LENGTH} characters, not only spaces, unique per intended order, scoped "
                "to your user, kept 24 hours. Same key + same body replays the first response (header "
                "Idempotent-Replayed: true); same key + different body is 422; a retry while the first "
                "request is running is 409. Without a key, a retried POST may create a second order.")
CORRELATION_ID = OpenApiParameter(
    "X-Correlation-ID", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description="A UUID carried into the order's events (any other value is replaced by a new UUID).")

ROOT = dict(
    auth=[],
    responses={200: OpenApiResponse(inline_serializer("EntryPoints", {
        name: serializers.URLField() for name in ("products", "orders", "schema", "docs", "redoc")}),
        description="where to go from here")},
)

PRODUCTS = dict(responses={200: ProductSerializer(many=True)})

LIST_ORDERS = dict(
    parameters=[
        OpenApiParameter("status", {"type": "string", "enum": [s.value for s in OrderStatus]},
                         description="only orders in this status"),
        OpenApiParameter("number", {"type": "string", "maxLength": Order._meta.get_field("number").max_length},
                         description="the order with this number (e.g. ORD-261127-7K3M9QXA); an empty page if none"),
    ],
    responses={200: OrderSerializer(many=True),
               400: OpenApiResponse(FIELD_ERRORS, description="an unknown status, or a number too long to be one"),
               404: error("a page past the last one")},
)

# PostgreSQL strings cannot hold NUL (\u0000): the API answers 400 for one, so the schema rules it out.
NO_NUL = r"^[^\u0000]*$"
NO_EDGE_SPACE_NO_NUL = r"^[^\s\u0000]([^\u0000]*[^\s\u0000])?$"

# The body checkout_input.py accepts, stated as JSON Schema (it is checked by hand, not by a serializer).
CHECKOUT_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["items", "payment_method"],
    "properties": {
        "items": {"type": "array", "minItems": 1, "maxItems": MAX_LINES,
                  "description": "one line per SKU (a SKU twice is a 400)",
                  "items": {"type": "object", "additionalProperties": False, "required": ["sku", "quantity"],
                            "properties": {
                                "sku": {"type": "string", "minLength": 1, "maxLength": MAX_SKU_LENGTH,
                                        "pattern": NO_EDGE_SPACE_NO_NUL,
                                        "description": "a SKU of GET /api/products/"},
                                "quantity": {"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY}}}},
        "payment_method": {"type": "string", "enum": list(PAYMENT_METHODS)},
        "shipping_note": {"type": "string", "maxLength": MAX_NOTE_LENGTH, "default": "",
                          "pattern": NO_NUL},
    },
}

CHECKOUT_EXAMPLE = OpenApiExample(
    "two keyboards", request_only=True,
    value={"items": [{"sku": "KB-001", "quantity": 2}], "payment_method": "card", "shipping_note": "leave at the door"},
    description="KB-001 is in the demo catalog `make run` loads")

PLACE_ORDER = dict(
    request={"application/json": CHECKOUT_SCHEMA}, parameters=[IDEMPOTENCY_KEY, CORRELATION_ID], examples=[CHECKOUT_EXAMPLE],
    description=f"The body is JSON (UTF-8), at most {MAX_BODY_BYTES} bytes and nested at most {MAX_DEPTH} levels.",
    responses={
        201: OpenApiResponse(OrderSerializer, description="the order, status ORDERED (a replay: the first response)"),
        400: OpenApiResponse(FIELD_ERRORS, description="invalid input, per field; or a body that is not a "
                                                       "JSON object, not UTF-8, nested too deep"),
        409: error("the same Idempotency-Key is still in flight (header Retry-After)"),
        413: error(f"the body is larger than {MAX_BODY_BYTES} bytes"),
        415: error("the body is not application/json"),
        422: error("the Idempotency-Key was used with a different body"),
    },
)

ORDER_DETAIL = dict(responses={200: OrderDetailSerializer})

ORDER_STATE_AT = dict(
    parameters=[OpenApiParameter("at", OpenApiTypes.DATETIME, required=True,
                                 description="ISO-8601 moment with a UTC offset, e.g. 2026-11-25T10:30:00Z")],
    responses={200: OrderStateSerializer,
               400: OpenApiResponse(FIELD_ERRORS, description="`at` missing, not a date-time, or without an offset"),
               404: error("no such order, or it did not exist yet at that moment")},
)
