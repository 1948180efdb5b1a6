"""One worker per Ray node on a real multi-node cluster: scale out, rebalance, lose a node."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import ray

from ringcache.actors.bootstrap import add_worker, start_cluster
from ringcache.cluster.ring.hash_ring import HashRing
from tests.conftest import wait_for, write_tree

pytestmark = pytest.mark.ray


def wait_job(cluster, job_type: str, kind: str, value: str) -> dict:
    def done():
        job = cluster.coordinator.call_sync("get_job", job_type, kind, value)
        return job if job["state"] in ("SUCCEEDED", "FAILED", "STOPPED") else None

    return wait_for(done, 120, f"{job_type} job")


def holders(cluster, worker_ids) -> dict[str, set[str]]:
    held: dict[str, set[str]] = {}
    for worker_id in worker_ids:
        for cached in cluster.workers[worker_id].call_sync("list_cached", None, 100_000):
            if cached["complete"]:
                held.setdefault(cached["path"], set()).add(worker_id)
    return held


def test_one_worker_per_node_scale_out_and_node_loss(ray_nodes, ray_config, tmp_path: Path):
    data = write_tree(tmp_path / "ufs", {f"f{i:03d}.bin": os.urandom(4000) for i in range(200)})
    cluster = start_cluster(ray_config)  # one worker on each alive node
    placed = {ref.call_sync("stats")["id"]: ref for ref in cluster.workers.values()}
    nodes = {ray.get(ref.handle.ping.remote()) for ref in cluster.workers.values()}
    assert len(cluster.workers) == 3 and len(nodes) == 3
    node_ids = {n["rayNodeId"] for n in cluster.coordinator.call_sync("list_nodes")}
    assert len(node_ids) == 3  # each worker on its own Ray node, with its own cache dir
    assert len({p for p in (tmp_path / "cache").iterdir()}) == 3

    cluster.coordinator.call_sync("add_mount", "/data", f"file://{data}", {})
    cluster.coordinator.call_sync("submit_job", "load", {"paths": ["/data"], "alias": "all"})
    assert wait_job(cluster, "load", "alias", "all")["state"] == "SUCCEEDED"

    fourth_node = ray_nodes.add_node(num_cpus=1)
    ray_nodes.wait_for_nodes()
    fourth = add_worker(ray_config, node_id=fourth_node.node_id)
    cluster.workers[fourth.name] = fourth
    wait_for(lambda: fourth.name in cluster.coordinator.call_sync("ring_snapshot")["workers"], 30)
    cluster.coordinator.call_sync("submit_job", "rebalance", {"target": "ALL"})
    job = wait_job(cluster, "rebalance", "target", "ALL")
    assert job["state"] == "SUCCEEDED", job
    snapshot = cluster.coordinator.call_sync("ring_snapshot")
    ring = HashRing(snapshot["workers"], virtual_nodes=snapshot["virtualNodes"])
    held = holders(cluster, snapshot["workers"])
    paths = [f"file://{p}" for p in sorted(data.iterdir())]
    assert all(held[path] == {ring.owners(path)[0]} for path in paths)  # nothing lost
    moved = job["loadedFiles"] / len(paths)
    assert 0.15 < moved < 0.35, moved  # about 1/4 of the data moved to the new worker
    assert job["loadedFromPeerBytes"] == job["loadedBytes"]

    ray_nodes.remove_node(fourth_node)
    wait_for(
        lambda: fourth.name not in cluster.coordinator.call_sync("ring_snapshot")["workers"],
        60,
        "the removed node's worker to leave the ring",
    )
    assert cluster.coordinator.call_sync("get_node", fourth.name)["state"] == "OFFLINE"
    assert placed  # the three original workers are still in place
