"""`/api/v1/file_index`: the files the cluster knows, their length and the workers holding them."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from ..cluster.errors import InvalidArgument
from ..cluster.refs import ActorRef
from .answers import ApiJSONResponse
from .policy_schemas import (
    FileIndexAdded,
    FileIndexEntry,
    FileIndexList,
    FileIndexPathsRequest,
    FileIndexRemoved,
    dump,
    read_policy_body,
)
from .resource import Operation, resource
from .schemas import count_param, text_param

FEATURE = "file_index"


def route(coordinator: ActorRef) -> Route:
    async def get(request: Request) -> ApiJSONResponse:
        try:
            count = count_param(request)
            prefix, last_key = text_param(request, "prefix"), text_param(request, "lastKey")
        except InvalidArgument:
            await coordinator.call("require_feature", FEATURE)
            raise
        entries = await coordinator.call("list_file_index", prefix, last_key, count)
        return ApiJSONResponse({"results": [dump(FileIndexEntry(**e)) for e in entries]})

    async def post(request: Request) -> ApiJSONResponse:
        body = await read_policy_body(request, FileIndexPathsRequest, coordinator, FEATURE)
        added = await coordinator.call("add_file_index", body.paths)
        return ApiJSONResponse(dump(FileIndexAdded(added=added)))

    async def delete(request: Request) -> ApiJSONResponse:
        body = await read_policy_body(request, FileIndexPathsRequest, coordinator, FEATURE)
        removed = await coordinator.call("remove_file_index", body.paths)
        return ApiJSONResponse(dump(FileIndexRemoved(removed=removed)))

    return resource(
        "/file_index",
        get=Operation(get, FileIndexList, query=("prefix", "lastKey", "count")),
        post=Operation(post, FileIndexAdded, FileIndexPathsRequest),
        delete=Operation(delete, FileIndexRemoved, FileIndexPathsRequest),
    )
