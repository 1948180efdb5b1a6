"""ReadCache with a fake registry and a counting app: kept until a write, then computed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from ringcache.http.read_cache import ReadCache


class Registry:
    """Reports one write event per `write()`, to a watch that polls every few ms."""

    def __init__(self) -> None:
        self.pending: list[str] = []
        self.revision = 1
        self.watches = 0

    def write(self) -> None:
        self.pending.append("event")
        deadline = time.monotonic() + 5
        while self.pending and time.monotonic() < deadline:  # until the watch took it
            time.sleep(0.005)

    async def call(self, method: str, *args: Any) -> Any:
        if method == "revision":
            return self.revision
        assert method == "watch"
        self.watches += 1
        await asyncio.sleep(0.005)
        events, self.pending = self.pending, []
        self.revision += len(events)
        return events, self.revision + 1


def make_app(registry: Registry | None, status: int = 200) -> tuple[Starlette, list[str]]:
    computed: list[str] = []

    async def nodes(request: Request) -> JSONResponse:
        computed.append(request.method)
        return JSONResponse({"n": len(computed)}, status_code=status)

    app = Starlette(
        routes=[Route("/nodes", nodes, methods=["GET", "POST"])],
        middleware=[Middleware(ReadCache, registry=registry, max_age=60)],
    )
    return app, computed


def wait_watching(registry: Registry) -> None:
    deadline = time.monotonic() + 5
    while registry.watches < 2 and time.monotonic() < deadline:
        time.sleep(0.005)


def test_a_get_is_kept_until_the_registry_reports_a_write() -> None:
    registry = Registry()
    app, computed = make_app(registry)
    with TestClient(app) as client:
        wait_watching(registry)
        first = client.get("/nodes").json()
        assert [client.get("/nodes").json() for _ in range(5)] == [first] * 5
        assert computed == ["GET"]
        registry.write()
        assert client.get("/nodes").json() != first
        assert computed == ["GET", "GET"]


def test_a_write_through_the_app_is_read_back_at_once() -> None:
    registry = Registry()
    app, computed = make_app(registry)
    with TestClient(app) as client:
        wait_watching(registry)
        client.get("/nodes")
        client.post("/nodes")
        assert client.get("/nodes").json() == {"n": 3}
        assert computed == ["GET", "POST", "GET"]


def test_without_a_watch_every_get_is_computed() -> None:
    app, computed = make_app(None)
    with TestClient(app) as client:
        for _ in range(3):
            client.get("/nodes")
    assert computed == ["GET"] * 3
    app, computed = make_app(Registry())
    client = TestClient(app)  # no lifespan: no watch
    client.get("/nodes")
    client.get("/nodes")
    assert computed == ["GET"] * 2


def test_server_errors_are_not_kept() -> None:
    registry = Registry()
    app, computed = make_app(registry, status=503)
    with TestClient(app) as client:
        wait_watching(registry)
        client.get("/nodes")
        client.get("/nodes")
    assert computed == ["GET"] * 2
