"""Load jobs on a real Ray cluster of three workers, with a coordinator or a worker killed."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import ray

from ringcache.actors.bootstrap import RayCluster
from ringcache.cluster.errors import Unavailable
from ringcache.cluster.ring.hash_ring import HashRing
from tests.conftest import wait_for, write_tree

pytestmark = pytest.mark.ray

SLOW = {"batchSize": 2, "bandwidth": "200KB"}


def tree(root: Path, count: int = 30, size: int = 50_000) -> Path:
    return write_tree(
        root / "ufs", {f"d{i % 3}/f{i:03d}.bin": os.urandom(size) for i in range(count)}
    )


def job(cluster: RayCluster, alias: str) -> dict | None:
    try:
        return cluster.coordinator.call_sync("get_job", "load", "alias", alias, timeout=5)
    except Unavailable:
        return None  # the coordinator is restarting


def finished(cluster: RayCluster, alias: str) -> dict | None:
    answer = job(cluster, alias)
    return answer if answer and answer["state"] in ("SUCCEEDED", "FAILED", "STOPPED") else None


def held(cluster: RayCluster, worker_ids: list[str]) -> dict[str, set[str]]:
    holders: dict[str, set[str]] = {}
    for worker_id in worker_ids:
        for cached in cluster.workers[worker_id].call_sync("list_cached", None, 100_000):
            holders.setdefault(cached["path"], set()).add(worker_id)
    return holders


def test_coordinator_killed_mid_job_finishes_with_exact_counters(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    data = tree(tmp_path)
    ray_cluster.coordinator.call_sync("add_mount", "/data", f"file://{data}", {})
    body = {"paths": ["/data"], "alias": "k", "options": SLOW}
    submitted = ray_cluster.coordinator.call_sync("submit_job", "load", body)
    wait_for(lambda: (job(ray_cluster, "k") or {}).get("loadedBytes", 0) > 0, 30, "progress")
    pid = ray.get(ray_cluster.coordinator.handle.ping.remote())
    os.kill(pid, signal.SIGKILL)
    final = wait_for(lambda: finished(ray_cluster, "k"), 120, "job to finish after restart")
    assert final["id"] == submitted["id"]
    assert final["state"] == "SUCCEEDED"
    assert final["scannedFiles"] == 30 and final["failedFiles"] == 0
    assert final["totalBytes"] == final["loadedBytes"] == 30 * 50_000
    assert ray.get(ray_cluster.coordinator.handle.ping.remote()) != pid


def test_worker_killed_mid_job_leaves_every_file_on_its_current_owner(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    data = tree(tmp_path, count=60)  # ~10 s at this bandwidth: the lease lapses mid-job
    ray_cluster.coordinator.call_sync("add_mount", "/data", f"file://{data}", {})
    body = {"paths": ["/data"], "alias": "w", "options": {"batchSize": 2, "bandwidth": "100KB"}}
    ray_cluster.coordinator.call_sync("submit_job", "load", body)
    wait_for(lambda: (job(ray_cluster, "w") or {}).get("loadedBytes", 0) > 0, 30, "progress")
    victim = sorted(ray_cluster.workers)[0]
    ray.kill(ray_cluster.workers[victim].handle, no_restart=True)
    final = wait_for(lambda: finished(ray_cluster, "w"), 120, "job to finish")
    assert final["state"] == "SUCCEEDED", final
    assert final["scannedFiles"] == 60 and final["failedFiles"] == 0
    survivors = sorted(set(ray_cluster.workers) - {victim})
    snapshot = ray_cluster.coordinator.call_sync("ring_snapshot")
    assert sorted(snapshot["workers"]) == survivors
    ring = HashRing(snapshot["workers"], virtual_nodes=snapshot["virtualNodes"])
    holders = held(ray_cluster, survivors)
    for path in (f"file://{p}" for p in sorted(data.rglob("*.bin"))):
        assert ring.owners(path, 1)[0] in holders.get(path, set()), path
