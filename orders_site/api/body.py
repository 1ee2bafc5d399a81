"""Reading a JSON request body that any client may have sent: size, encoding, syntax, nesting.

Each failure is an APIException with its own status (413, 415, 400), so nothing a client sends
reaches the application as a 500 (a body nested 5,000 arrays deep used to raise RecursionError).
"""
from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError, UnsupportedMediaType

# A 50-line order is under 5 KiB; 64 KiB leaves room for long shipping notes and whitespace.
MAX_BODY_BYTES = 64 * 1024
# An order body is three levels deep (object, items array, item object); nothing legitimate nests further.
MAX_DEPTH = 8


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = f"the request body is larger than {MAX_BODY_BYTES} bytes"
    default_code = "body_too_large"


def _depth_exceeds(value: Any, limit: int) -> bool:
    """True when containers nest deeper than `limit` (iterative: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = node.values()
        elif not isinstance(node, list):
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in node if isinstance(child, (dict, list)))
    return False


def _holds_nul(value: Any) -> bool:
    """True when a string or key anywhere in `value` holds NUL (iterative, like _depth_exceeds)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python's parser would accept NaN and Infinity


def read_json(request: HttpRequest) -> Any:
    """The parsed JSON body. Raises BodyTooLarge (413), UnsupportedMediaType (415) or ParseError (400)."""
    media_type = request.content_type or ""
    check_head(media_type, request.META.get("CONTENT_LENGTH"))
    return parse_json(request.body, media_type, (request.content_params or {}).get("charset"))


def check_head(media_type: str, content_length: str | None) -> int:
    """What can be refused before the body is read: the media type (415) and the declared length
    (400, 413). Returns the declared length (0 when none is declared)."""
    if media_type != "application/json" and not (media_type.startswith("application/") and media_type.endswith("+json")):
        raise UnsupportedMediaType(media_type or "(none)")
    try:
        length = int(content_length or 0)
    except ValueError:
        raise ParseError("Content-Length is not a number") from None
    if length > MAX_BODY_BYTES:
        raise BodyTooLarge()
    return length


def parse_json(raw: bytes, media_type: str, charset: str | None) -> Any:
    """The JSON value of a body that passed check_head(). Raises BodyTooLarge (413),
    UnsupportedMediaType (415) or ParseError (400)."""
    if len(raw) > MAX_BODY_BYTES:  # a server that does not pass Content-Length through
        raise BodyTooLarge()
    charset = ("utf-8" if charset is None else charset).lower()  # "charset=" (empty) is not UTF-8: 415
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(f"{media_type}; charset={charset}", detail="only UTF-8 JSON is accepted")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ParseError(f"the body is not UTF-8: {err.reason} at byte {err.start}") from None
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as err:
        raise ParseError(f"JSON parse error: {err}") from None
    if _depth_exceeds(value, MAX_DEPTH):
        raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels")
    lowered = text.lower()
    # PostgreSQL's text and jsonb cannot hold NUL: it would be a 500 later. Only JSON's escape can
    # put one in a string (a raw NUL is a parse error), and the full look only runs when that text appears.
    if "\\u0000" in lowered and _holds_nul(value):
        raise ParseError("NUL characters (\\u0000) are not accepted")
    if "\\ud" in lowered:  # an escaped surrogate: fine in a pair, not alone (not encodable as UTF-8)
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ParseError("the JSON holds a lone surrogate (\\ud800-\\udfff), which is not Unicode text") from None
    return value
