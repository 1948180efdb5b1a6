"""A REST resource: one path, one handler per method, `405` with a status body otherwise.

Each handler comes as an `Operation` that also says what it reads and answers (pydantic
models, query parameters, error codes), which is what `openapi.py` documents: the route
and its documentation are one declaration.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .errors import status_response

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
Handler = Callable[[Request], Awaitable[Response]]
# Every call may answer these: a bad request, a missing token, something unknown, a body
# past the limit, a disabled feature (501) and an unreachable peer (503).
COMMON_ERRORS = (400, 401, 404, 413, 501, 503)


@dataclass(frozen=True)
class Operation:
    """A handler and its contract: the body it reads (None: no body), the query
    parameters it takes, the model of a 200 answer and the errors beyond COMMON_ERRORS."""

    handler: Handler
    answer: type[BaseModel]
    body: type[BaseModel] | None = None
    query: tuple[str, ...] = ()
    errors: tuple[int, ...] = ()
    summary: str = ""


class Resource(Route):
    """A Route whose `operations` say, by method, what each handler reads and answers."""

    def __init__(self, path: str, operations: dict[str, Operation]) -> None:
        self.operations = operations

        async def endpoint(request: Request) -> Response:
            operation = operations.get(request.method)
            if operation is None:
                allowed = ", ".join(sorted(operations))
                return status_response(405, f"{request.method} is not allowed here; use {allowed}")
            return await operation.handler(request)

        super().__init__(path, endpoint, methods=ALL_METHODS)


def resource(path: str, **operations: Operation) -> Resource:
    return Resource(path, {method.upper(): op for method, op in operations.items()})
