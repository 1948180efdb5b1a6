"""What every `/api/v1` call passes before a route sees it: the bearer token, the body size.

Both are plain ASGI middleware, given what they enforce at construction, so a refused call
costs no actor round trip and no body is read past the limit.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .answers import ApiJSONResponse
from .body import BodyTooLarge


class BearerToken:
    """Guarantees: with a token set, a call without `Authorization: Bearer <token>` is a
    401 `{"status"}` and reaches no route, unless `public(method, path)` says it holds no
    data (the dashboard's page); the comparison takes constant time."""

    def __init__(
        self,
        app: ASGIApp,
        token: str | None,
        public: Callable[[str, str], bool] = lambda method, path: False,
    ) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else None
        self.public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.expected is not None
            and scope["type"] == "http"
            and not self.public(scope["method"], scope["path"])
        ):
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                answer = ApiJSONResponse(
                    {"status": "this call needs the cluster's token: Authorization: Bearer ..."},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodySizeLimit:
    """Guarantees: a body declared or streamed past `max_bytes` is a 413 `{"status"}`;
    at most `max_bytes` of it are ever read."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            answer = ApiJSONResponse({"status": self._message()}, status_code=413)
            await answer(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:  # raised in the route: the handlers answer
                    raise BodyTooLarge(self._message())
            return message

        await self.app(scope, limited, send)

    def _message(self) -> str:
        return f"the body is larger than {self.max_bytes} bytes"
