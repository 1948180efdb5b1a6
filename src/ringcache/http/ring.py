"""`/api/v1/ring`: what a client needs to build the cluster's ring and find each owner."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..cluster.refs import ActorRef
from .resource import resource


def route(coordinator: ActorRef) -> Route:
    async def get(request: Request) -> JSONResponse:
        # {"workers": [ids of the ring], "virtualNodes": n, "version": v}: the same
        # `HashRing(workers, virtual_nodes)` as the cluster's, built by the client.
        return JSONResponse(await coordinator.call("ring_snapshot"))

    return resource("/ring", get=get)
