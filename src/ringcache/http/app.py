"""The REST API as a Starlette app, made by a factory over actor references."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import Mount, Route

from ..cluster.config import ApiConfig
from ..cluster.jobs.catalog import JOB_KINDS
from ..cluster.refs import ActorRef
from . import cache, cache_filter, dashboard, file_index, mount, nodes, priority, quota, ring, ttl
from .answers import ApiJSONResponse
from .errors import EXCEPTION_HANDLERS
from .guard import BearerToken, BodySizeLimit
from .jobs import job_route
from .metrics import METRICS_DOC, metrics_route
from .openapi import openapi_document
from .read_cache import ReadCache
from .request_metrics import RequestMetrics

API_PREFIX = "/api/v1"


def create_app(
    coordinator: ActorRef, api: ApiConfig | None = None, registry: ActorRef | None = None
) -> Starlette:
    """The management API over a coordinator reference (local, Ray or simulated).

    `api` sets the token every call needs and the largest body (default: open, 1 MiB);
    the OpenAPI document is at `/api/v1/openapi.json` and the Prometheus metrics at
    `/metrics`, behind the same token; the web dashboard at `/` is open (it reads the API
    with the token it is given). Given the `registry`, repeated GETs are answered from
    memory while its watch says nothing changed (see `ReadCache`; the watch runs with the
    app's lifespan).
    """
    api = api or ApiConfig()
    token = api.resolved_token()
    modules = (mount, nodes, ring, cache, quota, ttl, priority, cache_filter, file_index)
    resources = [module.route(coordinator) for module in modules]
    resources += [job_route(kind, coordinator) for kind in JOB_KINDS.values()]
    document = openapi_document(API_PREFIX, resources, token is not None, METRICS_DOC)

    async def openapi(request: Request) -> ApiJSONResponse:
        return ApiJSONResponse(document)

    routes = [*resources, Route("/openapi.json", openapi, methods=["GET"])]
    meters = CollectorRegistry()  # the app's own: apps in one process do not share counts
    top = [
        Mount(API_PREFIX, routes=routes),
        metrics_route(coordinator, meters),
        *dashboard.routes(),
    ]
    return Starlette(
        routes=top,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            Middleware(RequestMetrics, routes=top, registry=meters),
            Middleware(BearerToken, token=token, public=dashboard.is_public),
            Middleware(BodySizeLimit, max_bytes=api.max_body_bytes),
            Middleware(ReadCache, registry=registry),
        ],
    )
