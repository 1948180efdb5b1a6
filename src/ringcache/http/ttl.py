"""`/api/v1/ttl`: how long data cached under a cluster path lives."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from ..cluster.refs import ActorRef
from .answers import ApiJSONResponse
from .policy_schemas import (
    RulePathRequest,
    TtlInfo,
    TtlList,
    TtlRequest,
    dump,
    query_selector,
    read_policy_body,
)
from .resource import Operation, resource

FEATURE = "ttl"


def route(coordinator: ActorRef) -> Route:
    async def get(request: Request) -> ApiJSONResponse:
        selector = await query_selector(request, ("path",), coordinator, FEATURE)
        if selector is None:
            ttls = await coordinator.call("list_ttls")
            return ApiJSONResponse({"results": [dump(TtlInfo(**t)) for t in ttls]})
        return ApiJSONResponse(dump(TtlInfo(**await coordinator.call("get_ttl", selector[1]))))

    async def post(request: Request) -> ApiJSONResponse:
        body = await read_policy_body(request, TtlRequest, coordinator, FEATURE)
        rule = await coordinator.call("set_ttl", body.path, body.time)
        return ApiJSONResponse(dump(TtlInfo(**rule)))

    async def delete(request: Request) -> ApiJSONResponse:
        body = await read_policy_body(request, RulePathRequest, coordinator, FEATURE)
        return ApiJSONResponse(dump(TtlInfo(**await coordinator.call("remove_ttl", body.path))))

    return resource(
        "/ttl",
        get=Operation(get, TtlList | TtlInfo, query=("path",), errors=(404,)),
        post=Operation(post, TtlInfo, TtlRequest),
        delete=Operation(delete, TtlInfo, RulePathRequest),
    )
