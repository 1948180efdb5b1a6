"""The job routes come from the kind registry: a kind made up here gets its own route."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from ringcache.cluster.jobs.catalog import JobKind
from ringcache.http.app import create_app
from tests.unit.jobs.warm_kind import register_warm


@pytest.fixture
def warm(monkeypatch: pytest.MonkeyPatch) -> JobKind:
    return register_warm(monkeypatch)


class FakeCoordinator:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    async def call(self, method: str, *args: Any) -> Any:
        self.calls.append((method, *args))
        return {"results": []} if method == "list_jobs" else {"id": "j1", "state": "RUNNING"}


def test_each_kind_has_its_route_over_its_selectors(warm: JobKind) -> None:
    coordinator = FakeCoordinator()
    api = TestClient(create_app(coordinator), base_url="http://test/api/v1")
    assert api.get("/warm", params={"target": "w1"}).status_code == 200
    assert api.post("/warm", json={"target": "w1"}).status_code == 200
    assert api.request("DELETE", "/warm", json={"id": "j1"}).status_code == 200
    assert api.get("/warm", params={"alias": "a"}).status_code == 200  # not a selector: a list
    assert api.request("DELETE", "/warm", json={"alias": "a"}).status_code == 400
    assert coordinator.calls == [
        ("get_job", "warm", "target", "w1"),
        ("submit_job", "warm", {"target": "w1"}),
        ("stop_job", "warm", "id", "j1"),
        ("list_jobs", "warm", None, None),
    ]
