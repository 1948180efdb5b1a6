"""Quotas: a load past one stops caching and says so; EVICT quotas make room instead."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from ringcache.client.client import connect
from ringcache.cluster.policies import PolicyConfig
from ringcache.local import LocalCluster
from tests.api.jobs_helpers import wait_job
from tests.api.policy_helpers import (
    cached,
    cached_bytes_under,
    load,
    mounted_cluster,
    post,
    wait_rules,
)
from tests.conftest import wait_for, write_tree


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    files = {f"train/p{i:02d}.bin": os.urandom(1000) for i in range(20)}
    files["other/o.bin"] = os.urandom(3000)
    return write_tree(tmp_path / "ufs", files)


def used_bytes(api, path: str) -> int:
    return api.get("/quota", params={"path": path}).json()["usedBytes"]


def test_a_load_past_a_quota_stops_caching_and_reports_it(
    cluster_factory: Callable[..., LocalCluster], tree: Path
) -> None:
    cluster, api = mounted_cluster(cluster_factory, tree)
    train = f"file://{tree}/train/"
    post(api, "/quota", {"path": "/data/train", "size": "10KB"})
    job = load(api, "train", "/data/train", batchSize=3)
    assert job["state"] == "FAILED"
    assert (job["loadedNonEmptyFiles"], job["loadedBytes"]) == (10, 10_000)
    assert job["failedFiles"] == 10
    assert {f["reason"] for f in job["failures"]} == {"QUOTA_EXCEEDED"}
    assert "/data/train" in job["quotaCheckError"]
    assert job["quota"]["path"] == "/data/train" and job["quota"]["totalBytes"] == 10_000
    assert 0 <= job["quota"]["remaining"] < 1000
    assert cached_bytes_under(cluster, train) == 10_000
    wait_for(lambda: used_bytes(api, "/data/train") == 10_000, what="usedBytes")

    # Reads go to the UFS once the workers know the quota is full, and cache nothing.
    wait_rules(cluster, lambda p: True, "")
    wait_for(
        lambda: all(
            w.policy_watch.usage.get("/data/train") == 10_000 for w in cluster.workers.values()
        ),
        what="the usage published to every worker",
    )
    client = connect(cluster=cluster)
    uncached = sorted(set(f"{train}p{i:02d}.bin" for i in range(20)) - set(cached(cluster)))
    assert client.read(uncached[0]) == Path(uncached[0][7:]).read_bytes()
    assert cached_bytes_under(cluster, train) == 10_000
    client.read("/data/other/o.bin")  # outside the quota: cached as usual, after the answer
    wait_for(lambda: f"file://{tree}/other/o.bin" in cached(cluster), what="o.bin cached")

    # A bigger quota, and the job resumed: the failed files are loaded now.
    post(api, "/quota", {"path": "/data/train", "size": "30KB"})
    again = api.post("/load", json={"paths": ["/data/train"], "alias": "train"})
    assert again.status_code == 409
    job = wait_job(api, "load", alias="train")
    assert job["state"] == "SUCCEEDED", job
    assert "quotaCheckError" not in job and job["failedFiles"] == 0
    assert cached_bytes_under(cluster, train) == 20_000


def test_nested_quotas_each_count_what_is_under_them(
    cluster_factory: Callable[..., LocalCluster], tree: Path
) -> None:
    cluster, api = mounted_cluster(cluster_factory, tree)
    post(api, "/quota", {"path": "/data", "size": 8000})
    post(api, "/quota", {"path": "/data/train", "size": 20_000})  # the outer one binds
    job = load(api, "all", "/data/train", batchSize=4)
    assert job["loadedBytes"] == 8000 and job["quota"]["path"] == "/data"
    wait_for(
        lambda: used_bytes(api, "/data") == used_bytes(api, "/data/train") == 8000,
        what="both quotas to count the same bytes",
    )


def test_an_evict_quota_caches_everything_and_evicts_down_to_its_size(
    cluster_factory: Callable[..., LocalCluster], tree: Path
) -> None:
    cluster, api = mounted_cluster(cluster_factory, tree)
    train = f"file://{tree}/train/"
    post(api, "/quota", {"path": "/data/train", "size": 10_000, "action": "EVICT"})
    job = load(api, "train", "/data/train", batchSize=3)
    assert job["state"] == "SUCCEEDED" and job["loadedBytes"] == 20_000
    wait_for(lambda: cached_bytes_under(cluster, train) <= 10_000, what="eviction to the quota")
    wait_for(lambda: used_bytes(api, "/data/train") <= 10_000, what="usedBytes at most the quota")
    assert cached_bytes_under(cluster, train) >= 10_000 - 2000  # not much more than needed


def test_a_smaller_evict_quota_evicts_the_least_recently_used_first(
    cluster_factory: Callable[..., LocalCluster], tree: Path
) -> None:
    cluster, api = mounted_cluster(cluster_factory, tree)
    train = f"file://{tree}/train/"
    assert load(api, "train", "/data/train")["loadedBytes"] == 20_000
    client = connect(cluster=cluster)
    recent = [f"{train}p{i:02d}.bin" for i in (3, 7, 11, 15, 19)]
    for uri in recent:
        client.read(uri)  # now the most recently used
    post(api, "/quota", {"path": "/data/train", "size": 5000, "action": "EVICT"})
    wait_for(lambda: cached_bytes_under(cluster, train) <= 5000, what="eviction to 5000 bytes")
    assert sorted(path for path in cached(cluster) if path.startswith(train)) == recent


def test_a_smaller_default_quota_keeps_what_is_cached_and_refuses_more(
    cluster_factory: Callable[..., LocalCluster], tree: Path
) -> None:
    cluster, api = mounted_cluster(cluster_factory, tree)
    train = f"file://{tree}/train/"
    first = [f"/data/train/p{i:02d}.bin" for i in range(10)]
    assert load(api, "first", *first)["loadedBytes"] == 10_000
    post(api, "/quota", {"path": "/data/train", "size": 5000})
    job = load(api, "rest", "/data/train")
    # Loading what is cached already needs no room: only the other ten are refused.
    assert job["state"] == "FAILED" and job["failedFiles"] == 10
    assert job["quota"] == {"path": "/data/train", "totalBytes": 5000, "remaining": 0}
    assert cached_bytes_under(cluster, train) == 10_000


def test_a_worker_makes_room_under_an_evict_quota_on_a_read_miss(
    cluster_factory: Callable[..., LocalCluster], tree: Path
) -> None:
    # No coordinator pass for an hour: what keeps the quota here is the worker alone.
    alone = PolicyConfig(file_index={"sync_interval": "1h"})
    cluster, api = mounted_cluster(cluster_factory, tree, workers=1, policies=alone)
    train = f"file://{tree}/train/"
    post(api, "/quota", {"path": "/data/train", "size": 5000, "action": "EVICT"})
    wait_rules(cluster, lambda p: bool(p.quotas_for("/data/train/x")), "the quota")
    client = connect(cluster=cluster)
    for i in range(10):
        client.read(f"/data/train/p{i:02d}.bin")
        assert cached_bytes_under(cluster, train) <= 5000
    kept = sorted(path for path in cached(cluster) if path.startswith(train))
    assert kept == [f"{train}p{i:02d}.bin" for i in range(5, 10)]  # the most recent
