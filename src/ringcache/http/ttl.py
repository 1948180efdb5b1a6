"""`/api/v1/ttl`: how long data cached under a cluster path lives."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..cluster.refs import ActorRef
from .policy_schemas import (
    RulePathRequest,
    TtlInfo,
    TtlRequest,
    dump,
    query_selector,
    read_policy_body,
)
from .resource import resource

FEATURE = "ttl"


def route(coordinator: ActorRef) -> Route:
    async def get(request: Request) -> JSONResponse:
        selector = await query_selector(request, ("path",), coordinator, FEATURE)
        if selector is None:
            ttls = await coordinator.call("list_ttls")
            return JSONResponse({"results": [dump(TtlInfo(**t)) for t in ttls]})
        return JSONResponse(dump(TtlInfo(**await coordinator.call("get_ttl", selector[1]))))

    async def post(request: Request) -> JSONResponse:
        body = await read_policy_body(request, TtlRequest, coordinator, FEATURE)
        rule = await coordinator.call("set_ttl", body.path, body.time)
        return JSONResponse(dump(TtlInfo(**rule)))

    async def delete(request: Request) -> JSONResponse:
        body = await read_policy_body(request, RulePathRequest, coordinator, FEATURE)
        return JSONResponse(dump(TtlInfo(**await coordinator.call("remove_ttl", body.path))))

    return resource("/ttl", get=get, post=post, delete=delete)
