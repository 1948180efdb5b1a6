"""`/api/v1/mount` over the in-process runtime: every status code, malformed bodies included."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ringcache.http.app import create_app
from ringcache.local import LocalCluster


@pytest.fixture
def api(cluster: LocalCluster) -> TestClient:
    return TestClient(create_app(cluster.coordinator_ref), base_url="http://test/api/v1")


def mount(api: TestClient, path: str, ufs: str, **extra: object):
    return api.post("/mount", json={"path": path, "ufs": ufs, **extra})


def test_mount_list_get_and_unmount(api: TestClient, data_dir: Path) -> None:
    assert api.get("/mount").json() == {"results": []}
    answer = mount(api, "/data", f"file://{data_dir}/")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"path": "/data", "ufs": f"file://{data_dir}", "options": {}}
    assert api.get("/mount").json()["results"] == [answer.json()]
    assert api.get("/mount", params={"path": "/data"}).json()["ufs"] == f"file://{data_dir}"
    removed = api.request("DELETE", "/mount", json={"path": "/data"})
    assert removed.status_code == 200, removed.text
    assert api.get("/mount").json() == {"results": []}


def test_get_unknown_mount_is_404(api: TestClient) -> None:
    answer = api.get("/mount", params={"path": "/nothing"})
    assert answer.status_code == 404
    assert "/nothing" in answer.json()["status"]


@pytest.mark.parametrize(
    "body",
    [
        None,
        "not json",
        "[1, 2]",
        '{"path": "/data"}',
        '{"ufs": "file:///tmp"}',
        '{"path": 5, "ufs": "file:///tmp"}',
        '{"path": "/data", "ufs": "file:///tmp", "options": {"a": 1}}',
        '{"path": "/data", "ufs": "file:///tmp", "extra": true}',
    ],
)
def test_malformed_mount_bodies_are_400(api: TestClient, body: str | None) -> None:
    answer = api.post("/mount", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert isinstance(answer.json()["status"], str) and answer.json()["status"]


def test_bad_mount_requests_are_400(api: TestClient, data_dir: Path, tmp_path: Path) -> None:
    cases = {
        "/data/nested": f"file://{data_dir}",  # not a direct child of /
        "data": f"file://{data_dir}",  # not absolute
        "/": f"file://{data_dir}",  # the root itself
        "/missing": f"file://{data_dir}/no-such-dir",  # UFS root not reachable
        "/odd": "nosuchscheme://bucket/x",  # no fsspec implementation
        "/outside": "file:///etc",  # not under the allowed local roots
    }
    for path, ufs in cases.items():
        answer = mount(api, path, ufs)
        assert answer.status_code == 400, (path, ufs, answer.text)
    assert api.get("/mount").json() == {"results": []}


def test_mount_conflicts_are_409(api: TestClient, data_dir: Path) -> None:
    assert mount(api, "/data", f"file://{data_dir}").status_code == 200
    again = mount(api, "/data", f"file://{data_dir}/nested")
    assert again.status_code == 409, again.text
    same_root = mount(api, "/other", f"file://{data_dir}")
    assert same_root.status_code == 409, same_root.text
    nested_root = mount(api, "/other", f"file://{data_dir}/nested")
    assert nested_root.status_code == 409, nested_root.text
    assert len(api.get("/mount").json()["results"]) == 1


def test_unmount_not_mounted_is_410_and_bad_body_400(api: TestClient) -> None:
    assert api.request("DELETE", "/mount", json={"path": "/data"}).status_code == 410
    assert api.request("DELETE", "/mount").status_code == 400
    assert api.request("DELETE", "/mount", json={"ufs": "x"}).status_code == 400


def test_unmount_drops_cached_data(cluster: LocalCluster, api: TestClient, data_dir: Path) -> None:
    from ringcache.client.client import connect

    assert mount(api, "/data", f"file://{data_dir}").status_code == 200
    client = connect(cluster=cluster)
    assert client.read("/data/a.bin") == (data_dir / "a.bin").read_bytes()
    assert sum(w.store.stats().cached_files for w in cluster.workers.values()) == 1
    assert api.request("DELETE", "/mount", json={"path": "/data"}).status_code == 200
    assert sum(w.store.stats().cached_files for w in cluster.workers.values()) == 0


def test_method_not_allowed_is_405_with_status(api: TestClient) -> None:
    answer = api.put("/mount", json={})
    assert answer.status_code == 405
    assert "PUT" in answer.json()["status"]


def test_static_mount_table_refuses_changes(
    cluster_factory, data_dir: Path, tmp_path: Path
) -> None:
    table = tmp_path / "mounts.json"
    table.write_text(f'[{{"path": "/data", "ufs": "file://{data_dir}", "options": {{}}}}]')
    cluster = cluster_factory(mount_table_file=table, workers=1)
    api = TestClient(create_app(cluster.coordinator_ref), base_url="http://test/api/v1")
    assert api.get("/mount").json()["results"][0]["path"] == "/data"
    assert mount(api, "/more", f"file://{data_dir}/nested").status_code == 501
    assert api.request("DELETE", "/mount", json={"path": "/data"}).status_code == 501
