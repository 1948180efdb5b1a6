"""Just enough HTTP/1.1 for a data server: GET requests in, fixed-length answers out.

A data server answers small GETs with large bodies, so it parses the request head itself
(one `readuntil`, one split per line) instead of running a general HTTP framework: the
per-request cost is what limits reads of 1 MiB pages over loopback.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote

MAX_HEAD = 16 * 1024  # bytes of request line and headers; more is refused (431)


class BadRequest(Exception):
    """A request this server will not parse; answered with `status` and the connection closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Request:
    """One parsed request: the decoded path, the query's last value per name, whether
    the connection stays open after the answer (HTTP/1.1 unless `Connection: close`), and
    its `Authorization` header ("" if none)."""

    method: str
    path: str
    query: dict[str, str]
    keep_alive: bool
    authorization: str = ""


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request on a connection, or None once the client closed it."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise BadRequest(400, "the request head ended early") from None
    except asyncio.LimitOverrunError:
        raise BadRequest(431, f"the request head is longer than {MAX_HEAD} bytes") from None
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise BadRequest(400, "the request line is not METHOD TARGET VERSION") from None
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise BadRequest(505, f"{version!r} is not HTTP/1.0 or HTTP/1.1")
    connection = authorization = ""
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "connection":
            connection = value.strip().lower()
        elif name == "authorization":
            authorization = value.strip()
        elif name in ("content-length", "transfer-encoding") and value.strip() not in ("", "0"):
            raise BadRequest(400, "this server takes no request bodies")
    path, _, query = target.partition("?")
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    return Request(method, unquote(path), dict(parse_qsl(query)), keep_alive, authorization)


def bearer_matches(authorization: str, token: str) -> bool:
    """Whether an `Authorization` header value is `Bearer <token>` (compared in constant time)."""
    scheme, _, given = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


def response_head(status: int, length: int, content_type: str, keep_alive: bool) -> bytes:
    """The status line and headers of a fixed-length answer."""
    reason = HTTPStatus(status).phrase
    connection = "keep-alive" if keep_alive else "close"
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\nConnection: {connection}\r\n\r\n"
    ).encode("latin-1")


def json_body(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
