"""The REST API as a Starlette app, made by a factory over actor references."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount

from ..cluster.refs import ActorRef
from . import cache, cache_filter, file_index, mount, nodes, priority, quota, ring, ttl
from .errors import EXCEPTION_HANDLERS
from .jobs import job_route

API_PREFIX = "/api/v1"


def create_app(coordinator: ActorRef) -> Starlette:
    """The management API over a coordinator reference (local, Ray or simulated)."""
    modules = (mount, nodes, ring, cache, quota, ttl, priority, cache_filter, file_index)
    resources = [module.route(coordinator) for module in modules]
    resources += [job_route(job_type, coordinator) for job_type in ("load", "free", "rebalance")]
    return Starlette(
        routes=[Mount(API_PREFIX, routes=resources)],
        exception_handlers=EXCEPTION_HANDLERS,
    )
