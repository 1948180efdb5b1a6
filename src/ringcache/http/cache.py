"""`/api/v1/cache`: cluster-wide cache operations; `clearStale` drops what owners don't own."""

from __future__ import annotations

from pydantic import Field, StrictStr
from starlette.requests import Request
from starlette.routing import Route

from ..cluster.errors import NotSupported
from ..cluster.refs import ActorRef
from .answers import ApiJSONResponse
from .resource import Operation, resource
from .schemas import Request_, WorkerErrors, read_body

OPERATIONS = {"clearStale": ("clear_stale", "stop_clear_stale")}


class CacheOperation(Request_):
    # Documented as the operations there are; any other is API.md's 501, not a 400.
    op: StrictStr = Field(json_schema_extra={"enum": list(OPERATIONS)})


def route(coordinator: ActorRef) -> Route:
    async def run(request: Request, stop: bool) -> ApiJSONResponse:
        body = await read_body(request, CacheOperation)
        methods = OPERATIONS.get(body.op)
        if methods is None:
            known = ", ".join(OPERATIONS)
            raise NotSupported(f"cache operation {body.op!r} is not implemented; use {known}")
        return ApiJSONResponse(await coordinator.call(methods[stop]))

    async def post(request: Request) -> ApiJSONResponse:
        return await run(request, stop=False)

    async def delete(request: Request) -> ApiJSONResponse:
        return await run(request, stop=True)

    return resource(
        "/cache",
        post=Operation(post, WorkerErrors, CacheOperation),
        delete=Operation(delete, WorkerErrors, CacheOperation),
    )
