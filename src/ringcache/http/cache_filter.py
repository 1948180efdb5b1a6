"""`/api/v1/cache-filter`: per-UFS-path rules (immutable, maxAge, skipCache) and the default."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from ..cluster.errors import InvalidArgument
from ..cluster.refs import ActorRef
from .answers import ApiJSONResponse
from .policy_schemas import (
    CacheFilterDeleteRequest,
    CacheFilterInfo,
    CacheFilterList,
    CacheFilterRequest,
    DefaultFilter,
    dump,
    read_policy_body,
)
from .resource import Operation, resource

FEATURE = "cache_filter"


def route(coordinator: ActorRef) -> Route:
    async def get(request: Request) -> ApiJSONResponse:
        listing = await coordinator.call("list_cache_filters")
        return ApiJSONResponse(dump(CacheFilterList(**listing)))

    async def post(request: Request) -> ApiJSONResponse:
        body = await read_policy_body(request, CacheFilterRequest, coordinator, FEATURE)
        if body.updateDefault:
            if body.pattern is not None:
                await coordinator.call("require_feature", FEATURE)
                raise InvalidArgument(
                    "give either a pattern (to add a rule) or updateDefault (to change the "
                    "default rule), not both"
                )
            rule = await coordinator.call("update_default_cache_filter", body.rule, body.time)
            return ApiJSONResponse({"default": dump(CacheFilterInfo(**rule))})
        rule = await coordinator.call("add_cache_filter", body.pattern, body.rule, body.time)
        return ApiJSONResponse(dump(CacheFilterInfo(**rule)))

    async def delete(request: Request) -> ApiJSONResponse:
        body = await read_policy_body(request, CacheFilterDeleteRequest, coordinator, FEATURE)
        pattern = None if body.updateDefault else body.pattern
        rule = await coordinator.call("remove_cache_filter", pattern, body.rule)
        return ApiJSONResponse(dump(CacheFilterInfo(**rule)))

    return resource(
        "/cache-filter",
        get=Operation(get, CacheFilterList),
        post=Operation(post, CacheFilterInfo | DefaultFilter, CacheFilterRequest, errors=(409,)),
        delete=Operation(delete, CacheFilterInfo, CacheFilterDeleteRequest),
    )
