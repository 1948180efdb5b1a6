"""`/api/v1/quota`: caps on the bytes cached under a cluster path."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..cluster.refs import ActorRef
from .policy_schemas import (
    QuotaInfo,
    QuotaRequest,
    RulePathRequest,
    dump,
    query_selector,
    read_policy_body,
)
from .resource import resource

FEATURE = "quota"


def route(coordinator: ActorRef) -> Route:
    async def get(request: Request) -> JSONResponse:
        selector = await query_selector(request, ("path",), coordinator, FEATURE)
        if selector is None:
            quotas = await coordinator.call("list_quotas")
            return JSONResponse({"results": [dump(QuotaInfo(**q)) for q in quotas]})
        return JSONResponse(dump(QuotaInfo(**await coordinator.call("get_quota", selector[1]))))

    async def post(request: Request) -> JSONResponse:
        body = await read_policy_body(request, QuotaRequest, coordinator, FEATURE)
        quota = await coordinator.call("set_quota", body.path, body.size, body.action)
        return JSONResponse(dump(QuotaInfo(**quota)))

    async def delete(request: Request) -> JSONResponse:
        body = await read_policy_body(request, RulePathRequest, coordinator, FEATURE)
        return JSONResponse(dump(QuotaInfo(**await coordinator.call("remove_quota", body.path))))

    return resource("/quota", get=get, post=post, delete=delete)
