"""`/api/v1/priority`: the eviction level of data cached under a cluster path."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from ..cluster.refs import ActorRef
from .answers import ApiJSONResponse
from .policy_schemas import (
    PriorityInfo,
    PriorityList,
    PriorityRequest,
    RulePathRequest,
    dump,
    query_selector,
    read_policy_body,
)
from .resource import Operation, resource

FEATURE = "priority"


def route(coordinator: ActorRef) -> Route:
    async def get(request: Request) -> ApiJSONResponse:
        selector = await query_selector(request, ("path",), coordinator, FEATURE)
        if selector is None:
            rules = await coordinator.call("list_priorities")
            return ApiJSONResponse({"results": [dump(PriorityInfo(**r)) for r in rules]})
        rule = await coordinator.call("get_priority", selector[1])
        return ApiJSONResponse(dump(PriorityInfo(**rule)))

    async def post(request: Request) -> ApiJSONResponse:
        body = await read_policy_body(request, PriorityRequest, coordinator, FEATURE)
        rule = await coordinator.call("set_priority", body.path, body.priority)
        return ApiJSONResponse(dump(PriorityInfo(**rule)))

    async def delete(request: Request) -> ApiJSONResponse:
        body = await read_policy_body(request, RulePathRequest, coordinator, FEATURE)
        rule = await coordinator.call("remove_priority", body.path)
        return ApiJSONResponse(dump(PriorityInfo(**rule)))

    return resource(
        "/priority",
        get=Operation(get, PriorityList | PriorityInfo, query=("path",), errors=(404,)),
        post=Operation(post, PriorityInfo, PriorityRequest),
        delete=Operation(delete, PriorityInfo, RulePathRequest),
    )
