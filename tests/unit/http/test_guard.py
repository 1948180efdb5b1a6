"""The bearer token and the body limit, on an app with a stand-in coordinator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from ringcache.cluster.config import ApiConfig
from ringcache.http.app import create_app


class Coordinator:
    """Answers the mount listing; records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def call(self, method: str, *args: Any) -> Any:
        self.calls.append(method)
        return []


def test_with_a_token_every_call_needs_it() -> None:
    coordinator = Coordinator()
    api = TestClient(create_app(coordinator, ApiConfig(token="s3cret")), base_url="http://t")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        answer = api.get("/api/v1/mount", headers=headers)
        assert answer.status_code == 401 and "token" in answer.json()["status"]
    assert api.get("/api/v1/openapi.json").status_code == 401
    assert coordinator.calls == []  # refused before any route ran
    answer = api.get("/api/v1/mount", headers={"Authorization": "Bearer s3cret"})
    assert answer.status_code == 200 and answer.json() == {"results": []}


def test_the_token_may_come_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file\n")
    app = create_app(Coordinator(), ApiConfig(token_file=tmp_path / "token"))
    api = TestClient(app, base_url="http://t")
    assert api.get("/api/v1/mount").status_code == 401
    assert api.get("/api/v1/mount", headers={"Authorization": "Bearer from-file"}).is_success


def test_without_a_token_the_api_is_open() -> None:
    api = TestClient(create_app(Coordinator()), base_url="http://t")
    assert api.get("/api/v1/mount").status_code == 200


@pytest.mark.parametrize("limit", [100, 1000])
def test_the_body_limit_is_configurable(limit: int) -> None:
    api = TestClient(
        create_app(Coordinator(), ApiConfig(max_body_bytes=limit)), base_url="http://t"
    )
    body = b'{"path": "' + b"x" * limit + b'"}'
    answer = api.post("/api/v1/mount", content=body)
    assert answer.status_code == 413 and str(limit) in answer.json()["status"]


def test_the_openapi_document_lists_every_resource() -> None:
    api = TestClient(create_app(Coordinator()), base_url="http://t")
    document = api.get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path in ("mount", "nodes", "cache", "quota", "ttl", "priority", "cache-filter", "load"):
        assert f"/api/v1/{path}" in paths
    assert "requestBody" in paths["/api/v1/quota"]["post"]
    assert "413" in paths["/api/v1/load"]["post"]["responses"]
