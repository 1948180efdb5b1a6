"""A REST resource: one path, one handler per method, `405` with a status body otherwise."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .errors import status_response

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
Handler = Callable[[Request], Awaitable[Response]]


def resource(path: str, **handlers: Handler) -> Route:
    by_method = {method.upper(): handler for method, handler in handlers.items()}

    async def endpoint(request: Request) -> Response:
        handler = by_method.get(request.method)
        if handler is None:
            allowed = ", ".join(sorted(by_method))
            return status_response(405, f"{request.method} is not allowed here; use {allowed}")
        return await handler(request)

    return Route(path, endpoint, methods=ALL_METHODS)
