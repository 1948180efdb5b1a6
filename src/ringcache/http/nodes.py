"""`/api/v1/nodes`: the workers, their state and usage; decommissioning."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from ..cluster.errors import InvalidArgument
from ..cluster.refs import ActorRef
from .answers import ApiJSONResponse
from .resource import Operation, resource
from .schemas import Node, NodeList, one_query_param


def route(coordinator: ActorRef) -> Route:
    async def get(request: Request) -> ApiJSONResponse:
        selector = one_query_param(request, ("id",))
        if selector is None:
            nodes = await coordinator.call("list_nodes")
            return ApiJSONResponse({"results": [Node(**n).model_dump() for n in nodes]})
        return ApiJSONResponse(Node(**await coordinator.call("get_node", selector[1])).model_dump())

    async def delete(request: Request) -> ApiJSONResponse:
        selector = one_query_param(request, ("id",))
        if selector is None or not selector[1]:
            raise InvalidArgument("give the worker to remove as ?id=worker-<uuid>")
        return ApiJSONResponse(
            Node(**await coordinator.call("remove_node", selector[1])).model_dump()
        )

    return resource(
        "/nodes",
        get=Operation(get, NodeList | Node, query=("id",), errors=(404,)),
        delete=Operation(delete, Node, query=("id",), errors=(404,)),
    )
