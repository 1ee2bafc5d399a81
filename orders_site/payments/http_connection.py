"""One kept-alive HTTP/1.1 connection to the gateway: a socket, and httptools' response parser.

The gateway client used the standard library's http.client, which parses every response's headers
through the email package: at the payment service's one call per order that was ~0.2 ms of CPU per
call more than this (docs/benchmarks.md, "Saga, seventh pass"). httptools is llhttp (Node.js's
parser, in C): it frames the response (Content-Length, chunked, keep-alive) so this module does not.

A response is complete when the parser says so. Anything else (a timeout, a closed or reset
connection, bytes the parser refuses, a response whose end only the connection's close would mark)
raises OSError or HttpError, and the caller must drop the connection: its state is unknown. The same
goes for an informational (1xx) or upgrade response, and for a second response to one request.
"""
from __future__ import annotations

import socket
import ssl
import time

import httptools

_CHUNK = 65536


class HttpError(Exception):
    """The bytes read are not one HTTP/1.1 response this client takes (not HTTP, an informational
    or upgrade response, or more than one response to one request)."""


class _Reply:
    """httptools' callbacks for one response."""

    __slots__ = ("body", "complete", "extra", "keep_alive", "parser", "status")

    def __init__(self) -> None:
        self.body: list[bytes] = []
        self.complete = self.keep_alive = self.extra = False
        self.status = 0
        self.parser = httptools.HttpResponseParser(self)

    def on_message_begin(self) -> None:
        self.extra = self.complete  # a second response: the connection is out of step

    def on_headers_complete(self) -> None:
        # Read here: once the message is complete the parser has reset for the next one.
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, data: bytes) -> None:
        self.body.append(data)

    def on_message_complete(self) -> None:
        self.complete = True


class HttpConnection:
    """Requests one at a time over one connection (no pipelining). `timeout` bounds connecting and
    each wait for the server's next bytes, as http.client's did."""

    def __init__(self, host: str, port: int | None, *, https: bool, timeout: float) -> None:
        port = port or (443 if https else 80)
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            # A request goes out as one write; without NODELAY a kept connection's next request could
            # wait for the ACK of the last one (docs/benchmarks.md, "Saga, third pass").
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if https:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        name = f"[{host}]" if ":" in host else host  # an IPv6 address, as in a URL
        self.host = name if port == (443 if https else 80) else f"{name}:{port}"
        self.used = time.monotonic()

    def request(self, method: str, target: str, body: bytes | None) -> tuple[int, bytes, bool]:
        """Send one request and read its whole response: (status, body, whether the connection may
        be kept). Raises OSError (timeout, refused, closed, reset) or HttpError (not HTTP)."""
        if any(c <= " " or c == "\x7f" for c in target):  # a CR/LF here would forge headers
            raise ValueError(f"not a request target: {target!r}")
        head = f"{method} {target} HTTP/1.1\r\nHost: {self.host}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.sock.sendall(head.encode("ascii") + b"\r\n" + (body or b""))
        reply = _Reply()
        while not reply.complete:
            data = self.sock.recv(_CHUNK)
            if not data:
                raise ConnectionError("the connection closed before the response was complete")
            try:
                reply.parser.feed_data(data)
            except (httptools.HttpParserError, httptools.HttpParserUpgrade) as err:
                raise HttpError(f"{type(err).__name__}: {err}") from err
        self.used = time.monotonic()
        if reply.status < 200 or reply.extra:
            # http.client skipped a 100 Continue; this client never asks for one, so it is treated
            # as a response out of step with its request, as is a second response.
            raise HttpError(f"status {reply.status} or a second response to one request")
        return reply.status, b"".join(reply.body), reply.keep_alive

    def close(self) -> None:
        self.sock.close()
