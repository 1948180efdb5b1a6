"""`/api/v1/ring`: what a client needs to build the cluster's ring and find each owner."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from ..cluster.refs import ActorRef
from .answers import ApiJSONResponse
from .resource import Operation, resource
from .schemas import RingView


def route(coordinator: ActorRef) -> Route:
    async def get(request: Request) -> ApiJSONResponse:
        # The same `HashRing(workers, virtual_nodes)` as the cluster's, built by the client.
        return ApiJSONResponse(RingView(**await coordinator.call("ring_snapshot")).model_dump())

    return resource("/ring", get=Operation(get, RingView))
