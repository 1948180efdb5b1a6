"""A real Ray cluster of three workers: reads, REST, a killed worker, a killed registry."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import ray
from starlette.testclient import TestClient

from ringcache.actors.bootstrap import RayCluster, add_worker
from ringcache.client.client import connect
from ringcache.http.app import create_app
from tests.conftest import wait_for

pytestmark = pytest.mark.ray


def ring_workers(cluster: RayCluster) -> list[str]:
    return cluster.coordinator.call_sync("ring_snapshot")["workers"]


def test_reads_through_the_cache_match_the_source(ray_cluster: RayCluster, data_dir: Path) -> None:
    api = TestClient(create_app(ray_cluster.coordinator), base_url="http://test/api/v1")
    assert (
        api.post("/mount", json={"path": "/data", "ufs": f"file://{data_dir}"}).status_code == 200
    )
    nodes = api.get("/nodes").json()["results"]
    assert [n["state"] for n in nodes] == ["ONLINE"] * 3
    client = connect(namespace=ray_cluster.config.namespace)
    for name in ("a.bin", "empty.bin", "small.txt", "nested/deep/b.bin"):
        assert client.read(f"/data/{name}") == (data_dir / name).read_bytes(), name
    # A miss read without asking (its owner recorded nothing of it) is cached once the
    # client's note of it arrives.
    assert client.local is not None
    client.local.flush_notes()

    def cached_files() -> int:
        return sum(w.call_sync("stats")["cachedFiles"] for w in ray_cluster.workers.values())

    wait_for(lambda: cached_files() == 4, what="every file cached")
    owner = client.owners("/data/nested/deep/b.bin")[0]
    before = ray_cluster.workers[owner].call_sync("stats")
    assert (
        client.read("/data/nested/deep/b.bin", 1000, 5000)
        == (data_dir / "nested/deep/b.bin").read_bytes()[1000:6000]
    )
    # A hit, read from the cache file the owner published on this host: counted once the
    # client's note of it arrives.
    assert client.local is not None
    client.local.flush_notes()
    after = wait_for(
        lambda: (s := ray_cluster.workers[owner].call_sync("stats"))["hits"] > before["hits"] and s,
        what="the hit counted",
    )
    assert after["hits"] == before["hits"] + 1 and after["misses"] == before["misses"]
    assert cached_files() == 4


def test_a_killed_worker_leaves_the_ring(ray_cluster: RayCluster) -> None:
    victim = sorted(ray_cluster.workers)[0]
    assert sorted(ring_workers(ray_cluster)) == sorted(ray_cluster.workers)
    ray.kill(ray_cluster.workers[victim].handle, no_restart=True)
    wait_for(lambda: victim not in ring_workers(ray_cluster), timeout=20, what="lease lapse")
    node = ray_cluster.coordinator.call_sync("get_node", victim)
    assert node["state"] == "OFFLINE"
    assert len(ring_workers(ray_cluster)) == 2


def test_registry_killed_with_sigkill_keeps_mounts_and_members(
    ray_cluster: RayCluster, data_dir: Path
) -> None:
    ray_cluster.coordinator.call_sync("add_mount", "/data", f"file://{data_dir}", {})
    members = sorted(n["id"] for n in ray_cluster.coordinator.call_sync("list_nodes"))
    pid = ray.get(ray_cluster.registry.handle.ping.remote())
    os.kill(pid, signal.SIGKILL)
    new_pid = wait_for(lambda: _ping(ray_cluster), timeout=60, what="registry restart")
    assert new_pid != pid
    assert ray_cluster.coordinator.call_sync("list_mounts") == [
        {"path": "/data", "ufs": f"file://{data_dir}", "options": {}}
    ]
    assert sorted(n["id"] for n in ray_cluster.coordinator.call_sync("list_nodes")) == members
    # the workers keep (or renew) their leases against the restarted registry
    wait_for(lambda: sorted(ring_workers(ray_cluster)) == members, timeout=30, what="ring intact")
    client = connect(namespace=ray_cluster.config.namespace)
    assert client.read("/data/a.bin") == (data_dir / "a.bin").read_bytes()


def _ping(cluster: RayCluster) -> int | None:
    try:
        return ray.get(cluster.registry.handle.ping.remote(), timeout=2)
    except Exception:
        return None


def test_worker_add_joins_the_ring(ray_cluster: RayCluster) -> None:
    added = add_worker(ray_cluster.config, slot="extra")
    wait_for(lambda: added.name in ring_workers(ray_cluster), timeout=20, what="join")
    assert len(ring_workers(ray_cluster)) == 4
