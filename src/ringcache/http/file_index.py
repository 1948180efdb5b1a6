"""`/api/v1/file_index`: the files the cluster knows, their length and the workers holding them."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..cluster.errors import InvalidArgument
from ..cluster.refs import ActorRef
from .policy_schemas import (
    FileIndexAdded,
    FileIndexEntry,
    FileIndexPathsRequest,
    FileIndexRemoved,
    dump,
    read_policy_body,
)
from .resource import resource

FEATURE = "file_index"


def route(coordinator: ActorRef) -> Route:
    async def get(request: Request) -> JSONResponse:
        query = request.query_params
        try:
            count = _count(query.get("count"))
        except InvalidArgument:
            await coordinator.call("require_feature", FEATURE)
            raise
        entries = await coordinator.call(
            "list_file_index", query.get("prefix"), query.get("lastKey"), count
        )
        return JSONResponse({"results": [dump(FileIndexEntry(**e)) for e in entries]})

    async def post(request: Request) -> JSONResponse:
        body = await read_policy_body(request, FileIndexPathsRequest, coordinator, FEATURE)
        added = await coordinator.call("add_file_index", body.paths)
        return JSONResponse(dump(FileIndexAdded(added=added)))

    async def delete(request: Request) -> JSONResponse:
        body = await read_policy_body(request, FileIndexPathsRequest, coordinator, FEATURE)
        removed = await coordinator.call("remove_file_index", body.paths)
        return JSONResponse(dump(FileIndexRemoved(removed=removed)))

    return resource("/file_index", get=get, post=post, delete=delete)


def _count(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidArgument(f"count must be a whole number, not {text!r}") from None
