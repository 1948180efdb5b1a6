"""`/api/v1/load`, `/free`, `/rebalance`: submit, list, follow and stop jobs of each kind."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..cluster.errors import InvalidArgument
from ..cluster.jobs.catalog import JobKind
from ..cluster.refs import ActorRef
from .resource import resource
from .schemas import one_query_param, read_json


def job_route(kind: JobKind, coordinator: ActorRef) -> Route:
    """`/<kind>`: the same calls for every kind of job, over the kind's selectors."""
    job_type, selectors = kind.name, kind.selectors

    async def get(request: Request) -> JSONResponse:
        selector = one_query_param(request, selectors)
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
        kind, value = _stop_selector(body, selectors)
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


def _stop_selector(body: dict, selectors: tuple[str, ...]) -> tuple[str, str]:
    """Exactly one selector (`paths` may come along with an `alias`)."""
    given = [key for key in selectors if key in body]
    unknown = set(body) - {*selectors, "paths"}
    if unknown or len(given) != 1:
        raise InvalidArgument(f"give exactly one of {', '.join(selectors)} to stop a job")
    value = body[given[0]]
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"{given[0]} must be a non-empty string")
    return given[0], value
