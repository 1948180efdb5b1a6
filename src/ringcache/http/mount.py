"""`/api/v1/mount`: the mount table."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from ..cluster.refs import ActorRef
from .answers import ApiJSONResponse
from .resource import Operation, resource
from .schemas import (
    MountInfo,
    MountList,
    MountPathRequest,
    MountRemoved,
    MountRequest,
    one_query_param,
    read_body,
)


def route(coordinator: ActorRef) -> Route:
    async def get(request: Request) -> ApiJSONResponse:
        selector = one_query_param(request, ("path",))
        if selector is None:
            mounts = await coordinator.call("list_mounts")
            return ApiJSONResponse({"results": [MountInfo(**m).model_dump() for m in mounts]})
        mount = await coordinator.call("get_mount", selector[1])
        return ApiJSONResponse(MountInfo(**mount).model_dump())

    async def post(request: Request) -> ApiJSONResponse:
        body = await read_body(request, MountRequest)
        mount = await coordinator.call("add_mount", body.path, body.ufs, body.options)
        return ApiJSONResponse(MountInfo(**mount).model_dump())

    async def delete(request: Request) -> ApiJSONResponse:
        body = await read_body(request, MountPathRequest)
        return ApiJSONResponse(await coordinator.call("remove_mount", body.path))

    return resource(
        "/mount",
        get=Operation(get, MountList | MountInfo, query=("path",), errors=(404,)),
        post=Operation(post, MountInfo, MountRequest, errors=(409,)),
        delete=Operation(delete, MountRemoved, MountPathRequest, errors=(410,)),
    )
