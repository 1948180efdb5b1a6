"""`/api/v1/load` and `/api/v1/free`: submit, list, follow and stop jobs."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..cluster.errors import InvalidArgument
from ..cluster.refs import ActorRef
from .resource import resource
from .schemas import one_query_param, read_json

SELECTORS = ("index", "alias", "id")


def job_route(job_type: str, coordinator: ActorRef) -> Route:
    async def get(request: Request) -> JSONResponse:
        selector = one_query_param(request, SELECTORS)
        if selector is not None:
            return JSONResponse(await coordinator.call("get_job", job_type, *selector))
        last_key = request.query_params.get("lastKey") or None
        jobs = await coordinator.call("list_jobs", job_type, last_key, _count(request))
        return JSONResponse({"results": jobs})

    async def post(request: Request) -> JSONResponse:
        body = await read_json(request)
        return JSONResponse(await coordinator.call("submit_job", job_type, body))

    async def delete(request: Request) -> JSONResponse:
        body = await read_json(request)
        kind, value = _stop_selector(body)
        return JSONResponse(await coordinator.call("stop_job", job_type, kind, value))

    return resource(f"/{job_type}", get=get, post=post, delete=delete)


def _count(request: Request) -> int | None:
    raw = request.query_params.get("count")
    if raw is None or raw == "":
        return None
    try:
        count = int(raw)
    except ValueError:
        raise InvalidArgument(f"count must be a whole number, not {raw!r}") from None
    if count < 0:
        raise InvalidArgument(f"count must not be negative, not {count}")
    return count


def _stop_selector(body: dict) -> tuple[str, str]:
    """`{"index"}`, `{"alias"}` (with or without its `paths`) or `{"id"}`, exactly one."""
    given = [key for key in SELECTORS if key in body]
    unknown = set(body) - {*SELECTORS, "paths"}
    if unknown or len(given) != 1:
        raise InvalidArgument("give exactly one of index, alias or id to stop a job")
    value = body[given[0]]
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"{given[0]} must be a non-empty string")
    return given[0], value
