"""Rules are in force once their POST is answered: a job submitted right after obeys them,
even on workers whose heartbeat (and so their own look at the rules) is far away."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ringcache.client.client import connect
from ringcache.cluster.policies import PolicyConfig
from ringcache.local import LocalCluster
from tests.api.jobs_helpers import wait_job
from tests.api.policy_helpers import cached, cached_bytes_under, load, mounted_cluster, post
from tests.conftest import wait_for, write_tree

# Workers look at the rules on their heartbeat: none comes during these tests.
SLOW_HEARTBEAT = {"heartbeat_interval": 30.0, "lease_ttl": 120.0}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    files = {f"tmp/t{i}.bin": os.urandom(5000) for i in range(4)}
    files |= {f"train/p{i:02d}.bin": os.urandom(25_000) for i in range(20)}
    return write_tree(tmp_path / "ufs", files)


@pytest.fixture
def mounted(
    cluster_factory: Callable[..., LocalCluster], tree: Path
) -> tuple[LocalCluster, TestClient]:
    return mounted_cluster(cluster_factory, tree, policies=PolicyConfig(), **SLOW_HEARTBEAT)


def test_a_skip_cache_rule_applies_to_the_next_load(
    mounted: tuple[LocalCluster, TestClient], tree: Path
) -> None:
    cluster, api = mounted
    post(api, "/cache-filter", {"pattern": ".*/ufs/tmp/.*", "rule": "skipCache"})
    job = load(api, "tmp", "/data/tmp")
    assert job["state"] == "SUCCEEDED", job
    assert (job["skippedFiles"], job["loadedBytes"]) == (4, 0)
    assert not any(path.startswith(f"file://{tree}/tmp/") for path in cached(cluster))


def test_a_quota_is_a_hard_cap_for_concurrent_loads_right_after_it_is_set(
    mounted: tuple[LocalCluster, TestClient], tree: Path
) -> None:
    cluster, api = mounted
    post(api, "/quota", {"path": "/data/train", "size": "200KB"})
    halves = [f"/data/train/p{i:02d}.bin" for i in range(20)]
    for alias, paths in (("a", halves[::2]), ("b", halves[1::2])):
        body = {"alias": alias, "paths": paths, "options": {"batchSize": 3}}
        assert api.post("/load", json=body).status_code == 200
    jobs = [wait_job(api, "load", alias=alias) for alias in ("a", "b")]
    loaded = sum(job["loadedBytes"] for job in jobs)
    assert loaded == cached_bytes_under(cluster, f"file://{tree}/train/")
    assert 175_000 <= loaded <= 200_000, jobs


def test_a_skip_cache_rule_applies_to_the_next_read(
    mounted: tuple[LocalCluster, TestClient], tree: Path
) -> None:
    cluster, api = mounted
    client = connect(cluster=cluster)
    assert client.read("/data/tmp/t0.bin") == (tree / "tmp/t0.bin").read_bytes()
    post(api, "/cache-filter", {"pattern": ".*/ufs/tmp/.*", "rule": "skipCache"})
    assert client.read("/data/tmp/t1.bin") == (tree / "tmp/t1.bin").read_bytes()
    assert client.read("/data/tmp/t0.bin") == (tree / "tmp/t0.bin").read_bytes()
    assert not any(path.startswith(f"file://{tree}/tmp/") for path in cached(cluster))


def test_removing_a_rule_applies_to_the_next_read(
    mounted: tuple[LocalCluster, TestClient], tree: Path
) -> None:
    cluster, api = mounted
    client = connect(cluster=cluster)
    rule = {"pattern": ".*/ufs/tmp/.*", "rule": "skipCache"}
    post(api, "/cache-filter", rule)
    client.read("/data/tmp/t0.bin")
    assert f"file://{tree}/tmp/t0.bin" not in cached(cluster)
    assert api.request("DELETE", "/cache-filter", json=rule).status_code == 200
    client.read("/data/tmp/t0.bin")  # cached right after the answer
    wait_for(lambda: f"file://{tree}/tmp/t0.bin" in cached(cluster), what="t0.bin cached")
