"""`/api/v1/quota`: caps on the bytes cached under a cluster path."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from ..cluster.refs import ActorRef
from .answers import ApiJSONResponse
from .policy_schemas import (
    QuotaInfo,
    QuotaList,
    QuotaRequest,
    RulePathRequest,
    dump,
    query_selector,
    read_policy_body,
)
from .resource import Operation, resource

FEATURE = "quota"


def route(coordinator: ActorRef) -> Route:
    async def get(request: Request) -> ApiJSONResponse:
        selector = await query_selector(request, ("path",), coordinator, FEATURE)
        if selector is None:
            quotas = await coordinator.call("list_quotas")
            return ApiJSONResponse({"results": [dump(QuotaInfo(**q)) for q in quotas]})
        return ApiJSONResponse(dump(QuotaInfo(**await coordinator.call("get_quota", selector[1]))))

    async def post(request: Request) -> ApiJSONResponse:
        body = await read_policy_body(request, QuotaRequest, coordinator, FEATURE)
        quota = await coordinator.call("set_quota", body.path, body.size, body.action)
        return ApiJSONResponse(dump(QuotaInfo(**quota)))

    async def delete(request: Request) -> ApiJSONResponse:
        body = await read_policy_body(request, RulePathRequest, coordinator, FEATURE)
        return ApiJSONResponse(dump(QuotaInfo(**await coordinator.call("remove_quota", body.path))))

    return resource(
        "/quota",
        get=Operation(get, QuotaList | QuotaInfo, query=("path",), errors=(404,)),
        post=Operation(post, QuotaInfo, QuotaRequest),
        delete=Operation(delete, QuotaInfo, RulePathRequest),
    )
