"""`/api/v1/load`, `/free`, `/rebalance`: submit, list, follow and stop jobs of each kind."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, StrictStr, create_model
from starlette.requests import Request
from starlette.routing import Route

from ..cluster.errors import InvalidArgument
from ..cluster.jobs.catalog import JobKind
from ..cluster.refs import ActorRef
from .answers import ApiJSONResponse
from .resource import Operation, resource
from .schemas import (
    JobList,
    JobView,
    Request_,
    count_param,
    one_query_param,
    read_json,
    text_param,
)


def job_route(kind: JobKind, coordinator: ActorRef) -> Route:
    """`/<kind>`: the same calls for every kind of job, over the kind's selectors."""
    job_type, selectors = kind.name, kind.selectors

    async def get(request: Request) -> ApiJSONResponse:
        selector = one_query_param(request, selectors)
        if selector is not None:
            return ApiJSONResponse(await coordinator.call("get_job", job_type, *selector))
        last_key = text_param(request, "lastKey")
        jobs = await coordinator.call("list_jobs", job_type, last_key, count_param(request))
        return ApiJSONResponse({"results": jobs})

    async def post(request: Request) -> ApiJSONResponse:
        body = await read_json(request)
        return ApiJSONResponse(await coordinator.call("submit_job", job_type, body))

    async def delete(request: Request) -> ApiJSONResponse:
        body = await read_json(request)
        kind, value = _stop_selector(body, selectors)
        return ApiJSONResponse(await coordinator.call("stop_job", job_type, kind, value))

    submit, stop = _body_models(kind)
    return resource(
        f"/{job_type}",
        get=Operation(get, JobList | JobView, query=(*selectors, "lastKey", "count")),
        post=Operation(post, JobView, submit, errors=(409,)),
        delete=Operation(delete, JobView, stop, errors=(410,)),
    )


def _body_models(kind: JobKind) -> tuple[type[BaseModel], type[BaseModel]]:
    """The submit and stop bodies of `kind`, for the documentation: the kind's selection
    and options validate a submission (so the CLI and the Python API give the same 400s)."""
    name = kind.name.capitalize()
    named_by = [s for s in kind.selectors if s != "id"]
    fields: dict[str, Any] = {s: (StrictStr | None, None) for s in named_by}
    if "alias" in named_by:
        fields["paths"] = (list[StrictStr] | None, None)
    fields["options"] = (kind.options | None, None)
    submit = create_model(f"{name}Submit", __base__=Request_, **fields)
    stop_fields: dict[str, Any] = {s: (StrictStr | None, None) for s in kind.selectors}
    if "alias" in named_by:
        stop_fields["paths"] = (list[StrictStr] | None, None)
    stop = create_model(f"{name}Stop", __base__=Request_, **stop_fields)
    return submit, stop


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
