"""`/api/v1/cache-filter`: per-UFS-path rules (immutable, maxAge, skipCache) and the default."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..cluster.errors import InvalidArgument
from ..cluster.refs import ActorRef
from .policy_schemas import (
    CacheFilterDeleteRequest,
    CacheFilterInfo,
    CacheFilterList,
    CacheFilterRequest,
    dump,
    read_policy_body,
)
from .resource import resource

FEATURE = "cache_filter"


def route(coordinator: ActorRef) -> Route:
    async def get(request: Request) -> JSONResponse:
        listing = await coordinator.call("list_cache_filters")
        return JSONResponse(dump(CacheFilterList(**listing)))

    async def post(request: Request) -> JSONResponse:
        body = await read_policy_body(request, CacheFilterRequest, coordinator, FEATURE)
        if body.updateDefault:
            if body.pattern is not None:
                await coordinator.call("require_feature", FEATURE)
                raise InvalidArgument(
                    "give either a pattern (to add a rule) or updateDefault (to change the "
                    "default rule), not both"
                )
            rule = await coordinator.call("update_default_cache_filter", body.rule, body.time)
            return JSONResponse({"default": dump(CacheFilterInfo(**rule))})
        rule = await coordinator.call("add_cache_filter", body.pattern, body.rule, body.time)
        return JSONResponse(dump(CacheFilterInfo(**rule)))

    async def delete(request: Request) -> JSONResponse:
        body = await read_policy_body(request, CacheFilterDeleteRequest, coordinator, FEATURE)
        pattern = None if body.updateDefault else body.pattern
        rule = await coordinator.call("remove_cache_filter", pattern, body.rule)
        return JSONResponse(dump(CacheFilterInfo(**rule)))

    return resource("/cache-filter", get=get, post=post, delete=delete)
