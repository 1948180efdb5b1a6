"""`/api/v1/nodes`: the workers, their state and usage; decommissioning."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..cluster.errors import InvalidArgument
from ..cluster.refs import ActorRef
from .resource import resource
from .schemas import Node, one_query_param


def route(coordinator: ActorRef) -> Route:
    async def get(request: Request) -> JSONResponse:
        selector = one_query_param(request, ("id",))
        if selector is None:
            nodes = await coordinator.call("list_nodes")
            return JSONResponse({"results": [Node(**n).model_dump() for n in nodes]})
        return JSONResponse(Node(**await coordinator.call("get_node", selector[1])).model_dump())

    async def delete(request: Request) -> JSONResponse:
        selector = one_query_param(request, ("id",))
        if selector is None or not selector[1]:
            raise InvalidArgument("give the worker to remove as ?id=worker-<uuid>")
        return JSONResponse(Node(**await coordinator.call("remove_node", selector[1])).model_dump())

    return resource("/nodes", get=get, delete=delete)
