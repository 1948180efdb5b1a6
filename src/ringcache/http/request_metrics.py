"""What the REST API counts of its own calls: requests and their latency, by route.

A call is labelled with the template of the route it reached (`/api/v1/nodes`, never the
raw path with its query or a caller's made-up path), so the number of series is bounded
by the routes the app has, whatever callers send.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .resource import ALL_METHODS

UNMATCHED = "unmatched"  # the route label of a call no route takes (a 404)
OTHER_METHOD = "other"  # the method label of a method no route serves


def route_template(routes: Sequence[BaseRoute], scope: Scope, prefix: str = "") -> str | None:
    """The path template of the route `scope` reaches among `routes`, mounts followed;
    a route that takes the path but not the method counts (it answers the 405)."""
    partial = None
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        if isinstance(route, Mount):
            inner = route_template(route.routes, {**scope, **child}, prefix + route.path)
            if inner is not None:
                return inner
            continue
        template = prefix + getattr(route, "path", "")
        if match is Match.FULL:
            return template
        partial = partial or template
    return partial


class RequestMetrics:
    """ASGI middleware that counts every HTTP call and times it, on `registry`.

    Guarantees: each call the app answers, refused ones included (outermost, it sees the
    401s and 413s), adds one to `ringcache_http_requests_total{route,method,code}` and one
    observation to `ringcache_http_request_duration_seconds{route,method}`; a call that
    fails with an exception counts as code 500 (what the app answers for it).
    """

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute], registry: CollectorRegistry):
        self.app = app
        self.routes = routes
        self.requests = Counter(
            "ringcache_http_requests",
            "REST calls answered, by route template, method and status code.",
            ("route", "method", "code"),
            registry=registry,
        )
        self.latency = Histogram(
            "ringcache_http_request_duration_seconds",
            "Time from a REST call's arrival to the end of its answer, by route and method.",
            ("route", "method"),
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = route_template(self.routes, scope) or UNMATCHED
        method = scope["method"] if scope["method"] in ALL_METHODS else OTHER_METHOD
        code = 500
        started = time.perf_counter()

        async def noting(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting)
        finally:
            self.latency.labels(route, method).observe(time.perf_counter() - started)
            self.requests.labels(route, method, str(code)).inc()
