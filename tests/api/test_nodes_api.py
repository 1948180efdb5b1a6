"""`/api/v1/nodes` over the in-process runtime."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from ringcache.http.app import create_app
from ringcache.local import LocalCluster
from tests.conftest import wait_for


@pytest.fixture
def api(cluster: LocalCluster) -> TestClient:
    return TestClient(create_app(cluster.coordinator_ref), base_url="http://test/api/v1")


def ring_workers(cluster: LocalCluster) -> list[str]:
    return cluster.run(cluster.coordinator_ref.call("ring_snapshot"))["workers"]


def test_lists_every_worker_online(cluster: LocalCluster, api: TestClient) -> None:
    nodes = api.get("/nodes").json()["results"]
    assert sorted(n["id"] for n in nodes) == sorted(cluster.workers)
    for node in nodes:
        assert node["state"] == "ONLINE"
        assert node["id"].startswith("worker-")
        assert node["capacityBytes"] == 64 * 1024**2
        assert node["usedBytes"] == 0 and node["cachedFiles"] == 0
        assert "+00:00" in node["startTime"] and "lastHeartbeat" in node
        assert None not in node.values()


def test_get_one_node_and_unknown_is_404(cluster: LocalCluster, api: TestClient) -> None:
    worker_id = sorted(cluster.workers)[0]
    answer = api.get("/nodes", params={"id": worker_id})
    assert answer.status_code == 200 and answer.json()["id"] == worker_id
    missing = api.get("/nodes", params={"id": "worker-00000000-0000-0000-0000-000000000000"})
    assert missing.status_code == 404
    assert "worker-00000000" in missing.json()["status"]


def test_delete_needs_an_id(api: TestClient) -> None:
    assert api.delete("/nodes").status_code == 400
    assert api.delete("/nodes", params={"id": ""}).status_code == 400
    assert api.delete("/nodes", params={"id": "worker-nope"}).status_code == 404


def test_delete_decommissions_a_live_worker(cluster: LocalCluster, api: TestClient) -> None:
    victim = sorted(cluster.workers)[1]
    answer = api.delete("/nodes", params={"id": victim})
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "DECOMMISSIONED"
    assert victim not in ring_workers(cluster)
    assert api.get("/nodes", params={"id": victim}).json()["state"] == "DECOMMISSIONED"
    assert api.delete("/nodes", params={"id": victim}).status_code == 404
    # it does not come back on its own: its heartbeat has stopped
    cluster.run(cluster.workers[victim].heartbeat())
    assert victim not in ring_workers(cluster)
    others = sorted(set(cluster.workers) - {victim})
    assert sorted(ring_workers(cluster)) == others


def test_a_dead_worker_goes_offline_and_leaves_the_ring(
    cluster: LocalCluster, api: TestClient
) -> None:
    victim = sorted(cluster.workers)[0]
    cluster.kill_worker(victim)
    wait_for(lambda: victim not in ring_workers(cluster), timeout=10, what="lease lapse")
    node = api.get("/nodes", params={"id": victim}).json()
    assert node["state"] == "OFFLINE"
    assert "lastHeartbeat" in node
    online = [n for n in api.get("/nodes").json()["results"] if n["state"] == "ONLINE"]
    assert len(online) == 2


def test_a_new_worker_joins_the_ring(cluster: LocalCluster, api: TestClient) -> None:
    added = cluster.add_worker()
    wait_for(lambda: added in ring_workers(cluster), timeout=10, what="join")
    assert api.get("/nodes", params={"id": added}).json()["state"] == "ONLINE"
