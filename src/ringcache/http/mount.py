"""`/api/v1/mount`: the mount table."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..cluster.refs import ActorRef
from .resource import resource
from .schemas import MountInfo, MountPathRequest, MountRequest, one_query_param, read_body


def route(coordinator: ActorRef) -> Route:
    async def get(request: Request) -> JSONResponse:
        selector = one_query_param(request, ("path",))
        if selector is None:
            mounts = await coordinator.call("list_mounts")
            return JSONResponse({"results": [MountInfo(**m).model_dump() for m in mounts]})
        mount = await coordinator.call("get_mount", selector[1])
        return JSONResponse(MountInfo(**mount).model_dump())

    async def post(request: Request) -> JSONResponse:
        body = await read_body(request, MountRequest)
        mount = await coordinator.call("add_mount", body.path, body.ufs, body.options)
        return JSONResponse(MountInfo(**mount).model_dump())

    async def delete(request: Request) -> JSONResponse:
        body = await read_body(request, MountPathRequest)
        return JSONResponse(await coordinator.call("remove_mount", body.path))

    return resource("/mount", get=get, post=post, delete=delete)
