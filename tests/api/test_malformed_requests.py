"""Every malformed request of every class the generator knows, on every operation: never a
5xx, always a `{"status"}` on a 4xx, and afterwards every GET still answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ringcache.cluster.config import ApiConfig
from ringcache.http.app import create_app
from ringcache.local import LocalCluster
from tests.api.malformed import requests

LISTINGS = ("/mount", "/nodes", "/load", "/free", "/rebalance", "/quota", "/ttl", "/priority")
LISTINGS += ("/cache-filter", "/file_index")


@pytest.fixture
def api(cluster_factory: Callable[..., LocalCluster], data_dir: Path) -> TestClient:
    cluster = cluster_factory(workers=1)
    cluster.run(cluster.coordinator.add_mount("/data", f"file://{data_dir}", {}))
    app = create_app(cluster.coordinator_ref, ApiConfig(max_body_bytes=64 * 1024))
    return TestClient(app, base_url="http://test/api/v1", raise_server_exceptions=False)


def _an_answer(code: int, body: dict) -> bool:
    """A 2xx, or a 4xx with a status; 501 is API.md's answer for what is not implemented
    (an unknown cache operation, a disabled feature), never a fault."""
    if code >= 400 and not isinstance(body.get("status"), str):
        return False
    return code < 500 or (code == 501 and "implemented" in body["status"])


def _readable(text: bytes) -> bool:
    """An answer holds valid UTF-8 and no escaped surrogate: nothing bad was stored."""
    return "\\ud" not in text.decode("utf-8").lower()


def test_no_malformed_request_answers_5xx_or_breaks_a_get(api: TestClient) -> None:
    document = api.get("/openapi.json").json()
    failures = []
    sent = 0
    for bad in requests(document):
        sent += 1
        url = bad.path + (f"?{bad.query}" if bad.query else "")
        headers = {"content-type": "application/json"}
        answer = api.request(bad.method, url, content=bad.body, headers=headers)
        if not _an_answer(answer.status_code, answer.json()):
            failures.append((bad.kind, bad.method, bad.path, answer.status_code, answer.text[:200]))
    assert sent > 1000  # the generator covered every operation
    assert not failures, json.dumps(failures[:20], indent=1)
    for path in LISTINGS:
        answer = api.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])
        assert _readable(answer.content), (path, answer.text[:300])


def test_a_body_past_the_limit_is_413_declared_or_streamed(api: TestClient) -> None:
    alias = "x" * (64 * 1024)
    declared = api.post("/load", json={"alias": alias, "paths": ["/data/a.bin"]})
    assert declared.status_code == 413 and "status" in declared.json()

    def chunks():
        yield b'{"alias": "'
        for _ in range(20):
            yield b"y" * 4096
        yield b'", "paths": ["/data/a.bin"]}'

    streamed = api.post("/load", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and "status" in streamed.json()
    assert api.get("/load", params={"alias": "y" * 10}).status_code == 404


def test_a_backtracking_filter_regex_is_matched_in_linear_time(api: TestClient) -> None:
    """`(a+)+$` against a long name would run for ages in Python's `re`; RE2 is linear."""
    body = {"alias": "redos", "paths": ["/data"], "options": {"fileFilterRegex": "(a+)+$"}}
    assert api.post("/load", json=body).status_code == 200
    unsupported = {**body, "alias": "backref", "options": {"fileFilterRegex": "(a)\\1"}}
    refused = api.post("/load", json=unsupported)
    assert refused.status_code == 400 and "fileFilterRegex" in refused.json()["status"]
    assert api.get("/load", params={"alias": "backref"}).status_code == 404


def test_stored_records_with_bad_values_do_not_break_gets(
    cluster_factory: Callable[..., LocalCluster], data_dir: Path
) -> None:
    """A record written before the checks (an infinite TTL, a lone surrogate in a rule or
    an alias, a job record that does not decode) still lists."""
    cluster = cluster_factory(workers=1)
    cluster.run(cluster.coordinator.add_mount("/data", f"file://{data_dir}", {}))
    registry = cluster.registry_ref
    ttl = {"path": "/data", "time": "inf", "seconds": float("inf")}
    cluster.run(registry.call("put", "/policies/ttl/data", json.dumps(ttl)))
    rule = {"pattern": "\ud800.*", "rule": "skipCache"}
    cluster.run(registry.call("put", "/policies/filter/0000000001", json.dumps(rule)))
    api = TestClient(create_app(cluster.coordinator_ref), base_url="http://test/api/v1")
    submitted = api.post("/load", json={"alias": "ok", "paths": ["/data/a.bin"]}).json()
    record = json.loads(cluster.run(registry.call("get", f"/jobs/load/{submitted['id']}")).value)
    record.update(id="zzz-surrogate", alias="\udc80")
    cluster.run(registry.call("put", "/jobs/load/zzz-surrogate", json.dumps(record)))
    cluster.run(registry.call("put", "/jobs/load/zzz-garbage", "{not json"))
    assert api.get("/ttl").status_code == 200
    assert api.get("/cache-filter").status_code == 200
    jobs = api.get("/load")
    assert jobs.status_code == 200
    assert {job["id"] for job in jobs.json()["results"]} == {submitted["id"], "zzz-surrogate"}
