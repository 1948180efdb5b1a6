"""`/api/v1/cache`: cluster-wide cache operations; `clearStale` drops what owners don't own."""

from __future__ import annotations

from pydantic import StrictStr
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..cluster.errors import NotSupported
from ..cluster.refs import ActorRef
from .resource import resource
from .schemas import Request_, read_body

OPERATIONS = {"clearStale": ("clear_stale", "stop_clear_stale")}


class CacheOperation(Request_):
    op: StrictStr


def route(coordinator: ActorRef) -> Route:
    async def run(request: Request, stop: bool) -> JSONResponse:
        body = await read_body(request, CacheOperation)
        methods = OPERATIONS.get(body.op)
        if methods is None:
            known = ", ".join(OPERATIONS)
            raise NotSupported(f"cache operation {body.op!r} is not implemented; use {known}")
        return JSONResponse(await coordinator.call(methods[stop]))

    async def post(request: Request) -> JSONResponse:
        return await run(request, stop=False)

    async def delete(request: Request) -> JSONResponse:
        return await run(request, stop=True)

    return resource("/cache", post=post, delete=delete)
