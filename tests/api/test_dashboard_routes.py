"""The dashboard's files at `/` and `/static/`: their types, and which calls need the token."""

from __future__ import annotations

import asyncio

import pytest
from starlette.testclient import TestClient

from ringcache.cluster.config import ApiConfig
from ringcache.cluster.jobs.catalog import JOB_KINDS
from ringcache.http.app import create_app
from ringcache.http.dashboard import STATIC_DIR
from ringcache.local import LocalCluster

TOKEN = "s3cret-token"


def raw_get(app, path: str) -> tuple[int, bytes]:
    """A GET of `path` exactly as given (an HTTP client would normalize the dots away)."""
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("test", 80),
        "root_path": "",
    }
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


@pytest.fixture
def open_app(cluster: LocalCluster) -> TestClient:
    return TestClient(create_app(cluster.coordinator_ref), base_url="http://test")


@pytest.fixture
def guarded_app(cluster: LocalCluster) -> TestClient:
    app = create_app(cluster.coordinator_ref, ApiConfig(token=TOKEN))
    return TestClient(app, base_url="http://test")


def test_the_page_and_its_files_are_served_with_their_types(open_app: TestClient) -> None:
    page = open_app.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.text == (STATIC_DIR / "index.html").read_text()
    assert '<script src="/static/app.js"' in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    expected = {
        "/static/app.js": "javascript",
        "/static/style.css": "text/css",
        "/static/index.html": "text/html",
    }
    for path, kind in expected.items():
        answer = open_app.get(path)
        assert answer.status_code == 200, path
        assert kind in answer.headers["content-type"], (path, answer.headers["content-type"])
        assert answer.content == (STATIC_DIR / path.removeprefix("/static/")).read_bytes()
    assert open_app.get("/static/nothing.js").status_code == 404
    assert open_app.head("/").status_code == 200


def test_the_page_learns_the_job_kinds_from_the_catalog(open_app: TestClient) -> None:
    answer = open_app.get("/dashboard.json")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    kinds = {kind["name"]: kind for kind in answer.json()["jobKinds"]}
    assert set(kinds) == set(JOB_KINDS) == {"load", "free", "rebalance"}
    for name, kind in JOB_KINDS.items():
        assert kinds[name]["counters"] == list(kind.counters)
        assert kinds[name]["moved"] == kind.moved
    assert kinds["load"]["done"] == ["loadedNonEmptyFiles", "skippedFiles", "failedFiles"]
    assert kinds["rebalance"]["done"] == []  # no total to measure against


def test_with_a_token_the_page_is_open_and_every_data_call_is_not(guarded_app: TestClient) -> None:
    for path in ("/", "/static/app.js", "/static/style.css", "/dashboard.json"):
        assert guarded_app.get(path).status_code == 200, path
    for path in ("/api/v1/nodes", "/api/v1/load", "/api/v1/mount", "/api/v1/openapi.json"):
        answer = guarded_app.get(path)
        assert answer.status_code == 401, path
        assert "token" in answer.json()["status"]
        authorized = guarded_app.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
        assert authorized.status_code == 200, path
    # only reading the page is open: any other method, or any other path, needs the token
    assert guarded_app.post("/", json={}).status_code == 401
    assert guarded_app.delete("/static/app.js").status_code == 401
    assert guarded_app.get("/elsewhere").status_code == 401
    # a path that passes as a static one is routed to the static files, which hold no data
    for path in ("/static/../api/v1/nodes", "/static/%2e%2e/api/v1/nodes"):
        status, body = raw_get(guarded_app.app, path)
        assert status == 404 and b"worker-" not in body, path


def test_without_a_token_other_methods_on_the_page_are_refused(open_app: TestClient) -> None:
    assert open_app.post("/", json={}).status_code == 405
    assert open_app.get("/elsewhere").status_code == 404
