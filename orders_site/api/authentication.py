"""Token authentication with one plain query (DRF's own builds an ORM query with a join per request).

Same answers as rest_framework.authentication.TokenAuthentication: no `Authorization: Token` header
means "not this scheme" (the next authenticator, or 401), a malformed header, an unknown token or an
inactive user is a 401 with DRF's messages. DRF views get a user model instance with the fields a
request needs loaded (others load on access); the checkout view (checkout.py) only needs the id,
and gets it without a model instance being built.
"""
from __future__ import annotations

import functools
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header

KEYWORD = TokenAuthentication.keyword.lower().encode()  # compared lower-cased, as DRF does
_FIELDS = ("id", "username", "is_active", "is_staff", "is_superuser")


def token_key(request: HttpRequest) -> str | None:
    """The key of an `Authorization: Token <key>` header; None without one. Raises AuthenticationFailed
    for a malformed one (TokenAuthentication.authenticate's checks and messages)."""
    return key_in_header(get_authorization_header(request))


def key_in_header(header: bytes) -> str | None:
    """token_key() for the header's value, as get_authorization_header gives it (ISO-8859-1 bytes)."""
    if not header:
        return None
    parts = header.split()
    if not parts or parts[0].lower() != KEYWORD:
        return None
    if len(parts) == 1:
        raise exceptions.AuthenticationFailed(_("Invalid token header. No credentials provided."))
    if len(parts) > 2:
        raise exceptions.AuthenticationFailed(_("Invalid token header. Token string should not contain spaces."))
    try:
        return parts[1].decode()
    except UnicodeError:
        raise exceptions.AuthenticationFailed(
            _("Invalid token header. Token string should not contain invalid characters.")) from None


@functools.cache
def _max_key_length() -> int:
    """rest_framework.authtoken's Token.key length: a longer key cannot match."""
    from rest_framework.authtoken.models import Token

    return Token._meta.get_field("key").max_length


@functools.cache
def _user_query() -> tuple[str, tuple[str, ...]]:
    """The statement reading a token's user, and the attribute names of its columns, in the model's
    field order (Model.from_db takes them in that order). Built once: the text stays the same, so
    the connection prepares it (settings.DATABASES, prepare_threshold)."""
    from rest_framework.authtoken.models import Token

    user_model = get_user_model()
    fields = [f for f in user_model._meta.concrete_fields if f.attname in _FIELDS]
    columns = ", ".join(f"u.{f.column}" for f in fields)
    sql = (f"SELECT {columns} FROM {Token._meta.db_table} t JOIN {user_model._meta.db_table} u "
           f"ON u.{user_model._meta.pk.column} = t.user_id WHERE t.key = %s")
    return sql, tuple(f.attname for f in fields)


def fetch_token_user(key: str) -> dict[str, Any]:
    """The active user of token `key` as {attname: value} (one query). Raises AuthenticationFailed for
    an unknown token or an inactive user."""
    if len(key) > _max_key_length() or "\x00" in key:  # cannot be a key, and PostgreSQL refuses NUL: no query
        raise exceptions.AuthenticationFailed(_("Invalid token."))
    sql, names = _user_query()
    with connection.cursor() as cursor:
        cursor.execute(sql, [key])
        row = cursor.fetchone()
    if row is None:
        raise exceptions.AuthenticationFailed(_("Invalid token."))
    user = dict(zip(names, row))
    if not user["is_active"]:
        raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
    return user


class FastTokenAuthentication(TokenAuthentication):
    def authenticate(self, request: Any) -> tuple[Any, str] | None:
        key = token_key(request)
        return None if key is None else self.authenticate_credentials(key)

    def authenticate_credentials(self, key: str) -> tuple[Any, str]:
        user = fetch_token_user(key)
        return get_user_model().from_db(connection.alias, list(user), list(user.values())), key
