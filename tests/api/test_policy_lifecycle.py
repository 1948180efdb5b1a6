"""Rules reach every worker within a heartbeat, also a late one, and survive a restart."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ringcache.client.client import connect
from ringcache.local import LocalCluster
from tests.api.jobs_helpers import api_for
from tests.api.policy_helpers import FAST_SCAN, cached, load, mounted_cluster, post, wait_rules
from tests.conftest import write_tree


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    files = {f"train/p{i:02d}.bin": os.urandom(1000) for i in range(20)}
    files.update({"low/l.bin": os.urandom(3000), "ufs-tmp/t.bin": os.urandom(2000)})
    return write_tree(tmp_path / "ufs", files)


RULES = [
    ("/quota", {"path": "/data/train", "size": "10KB"}),
    ("/ttl", {"path": "/data/train", "time": "1h"}),
    ("/priority", {"path": "/data/low", "priority": "LOW"}),
    ("/cache-filter", {"pattern": ".*/ufs-tmp/.*", "rule": "skipCache"}),
]


def in_force(tree: Path) -> Callable[..., bool]:
    def check(policies) -> bool:
        return (
            policies.ttl_for("/data/train/x") == 3600
            and policies.priority_for("/data/low/l.bin") == "LOW"
            and [q.path for q in policies.quotas_for("/data/train/x")] == ["/data/train"]
            and policies.cache_rule_for(f"file://{tree}/ufs-tmp/t.bin")[0] == "skipCache"
        )

    return check


def test_rules_reach_every_worker_within_seconds_and_a_later_worker_at_start(
    cluster_factory: Callable[..., LocalCluster], tree: Path
) -> None:
    cluster, api = mounted_cluster(cluster_factory, tree, workers=2)
    started = time.monotonic()
    for endpoint, body in RULES:
        post(api, endpoint, body)
    wait_rules(cluster, in_force(tree), "every rule on every worker")
    assert time.monotonic() - started < 3  # heartbeats are 0.2 s here
    late = cluster.workers[cluster.add_worker()]
    assert in_force(tree)(late.policy_watch.policies)  # read at start, no waiting
    assert late.policy_watch.config.ttl.scan_interval == 0.3  # the coordinator's config
    assert api.request("DELETE", "/ttl", json={"path": "/data/train"}).status_code == 200
    wait_rules(cluster, lambda p: p.ttl_for("/data/train/x") is None, "the TTL gone everywhere")


def test_rules_survive_a_restart_of_the_cluster_and_still_take_effect(
    cluster_factory: Callable[..., LocalCluster], tree: Path
) -> None:
    first, api = mounted_cluster(cluster_factory, tree)
    for endpoint, body in RULES:
        post(api, endpoint, body)
    listed = {endpoint: api.get(endpoint).json() for endpoint, _ in RULES}
    first.stop()

    cluster = cluster_factory(policies=FAST_SCAN)  # the same state and cache directories
    api = api_for(cluster)
    for endpoint, _ in RULES:
        answer = api.get(endpoint).json()
        if endpoint == "/quota":  # usage is counted afresh
            answer["results"][0]["usedBytes"] = listed[endpoint]["results"][0]["usedBytes"]
        assert answer == listed[endpoint], endpoint
    assert all(in_force(tree)(w.policy_watch.policies) for w in cluster.workers.values())

    job = load(api, "after", "/data")
    assert job["loadedBytes"] == 10_000 + 3000  # the quota still binds
    assert job["quota"]["totalBytes"] == 10_000
    assert job["skippedFiles"] == 1  # the filter still skips
    client = connect(cluster=cluster)
    assert client.read("/data/ufs-tmp/t.bin") == (tree / "ufs-tmp/t.bin").read_bytes()
    assert not any("ufs-tmp" in path for path in cached(cluster))
    low = f"file://{tree}/low/l.bin"
    (holder,) = [w for w in cluster.workers.values() if w.store.file_info(low) is not None]
    assert holder.store.file_info(low).priority == "LOW"
