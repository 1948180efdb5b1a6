"""The global file index follows what the workers hold: load, reads, eviction, free."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from ringcache.client.client import connect
from ringcache.local import LocalCluster
from tests.api.jobs_helpers import wait_job
from tests.api.policy_helpers import cached, load, mounted_cluster, post, wait_index_in_step
from tests.conftest import wait_for, write_tree

PAGE = 4096


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    files = {f"a/f{i:02d}.bin": os.urandom(2 * PAGE) for i in range(12)}
    files.update({f"b/g{i:02d}.bin": os.urandom(4 * PAGE + 100) for i in range(12)})
    return write_tree(tmp_path / "ufs", files)


def test_the_index_agrees_with_the_workers_after_load_reads_eviction_and_free(
    cluster_factory: Callable[..., LocalCluster], tree: Path
) -> None:
    # Three workers with room for 24 pages each: a (24 pages) fits on any one of them,
    # whichever owns what, but a and b (84 pages) cannot all stay.
    cluster, api = mounted_cluster(cluster_factory, tree, page_size=PAGE, capacity=24 * PAGE)
    assert load(api, "a", "/data/a")["state"] == "SUCCEEDED"
    held = wait_index_in_step(cluster, "a load")
    assert len(held) == 12 and all(sum(by.values()) == 2 * PAGE for by in held.values())

    client = connect(cluster=cluster)
    misses = sum(w.counters["misses"] for w in cluster.workers.values())
    for i in range(12):
        client.read(f"/data/b/g{i:02d}.bin")  # read misses cache b, evicting parts of a
    # Misses read without asking (their owner recorded nothing of them) are cached once
    # the client's notes of them arrive: 5 pages each.
    assert client.local is not None
    client.local.flush_notes()
    wait_for(
        lambda: sum(w.counters["misses"] for w in cluster.workers.values()) == misses + 60,
        what="every miss counted",
    )
    held = wait_index_in_step(cluster, "reads that evicted")
    total = sum(size for by in held.values() for size in by.values())
    assert total < 12 * 2 * PAGE + 12 * (4 * PAGE + 100)  # something was evicted...
    assert total <= 3 * 24 * PAGE  # ...and the index never counts more than fits
    partly = [path for path, by in held.items() for size in by.values() if 0 < size < 2 * PAGE]
    assert partly or len(held) < 24  # files lost pages or went whole

    free = {"paths": ["/data/a"], "alias": "free-a"}
    assert api.post("/free", json=free).status_code == 200
    assert wait_job(api, "free", alias="free-a")["state"] == "SUCCEEDED"
    wait_index_in_step(cluster, "a free")
    assert not any(path.startswith(f"file://{tree}/a/") for path in cached(cluster))
    listed = api.get("/file_index", params={"prefix": "/data/a/"}).json()["results"]
    assert listed and all(entry["workers"] == [] for entry in listed)  # known, held by none


def test_a_new_coordinator_gets_everything_held_reported_again(
    cluster_factory: Callable[..., LocalCluster], tree: Path
) -> None:
    cluster, api = mounted_cluster(cluster_factory, tree)
    assert load(api, "a", "/data/a")["state"] == "SUCCEEDED"
    wait_index_in_step(cluster, "a load")
    index = cluster.coordinator.file_index
    first, second = sorted(cluster.workers)[:2]
    index.forget_worker(first)  # as if the index had lost what it knew
    index.record_cached(f"file://{tree}/b/g00.bin", 100, None, None, second)  # or was wrong
    cluster.restart_coordinator()
    # A coordinator that never heard from the workers asks them for everything they hold.
    held = wait_index_in_step(cluster, "a coordinator restart")
    assert len(held) == 12


def test_the_index_agrees_after_a_load_that_evicts_as_it_goes(
    cluster_factory: Callable[..., LocalCluster], tree: Path
) -> None:
    # Everything at once into room for a fraction of it: loads evict each other's pages, and
    # the job's own record of a copy can land after the report of that copy's eviction.
    cluster, api = mounted_cluster(cluster_factory, tree, page_size=PAGE, capacity=8 * PAGE)
    # A quota that never binds still sends the job through the gate, which syncs the index
    # with each worker as its batch returns, before the job records its results.
    post(api, "/quota", {"path": "/data", "size": "1GB"})
    job = load(api, "all", "/data", batchSize=50)  # batches bigger than a worker
    assert job["scannedFiles"] == 24
    held = wait_index_in_step(cluster, "a load under memory pressure")
    total = sum(size for by in held.values() for size in by.values())
    assert 0 < total <= 3 * 8 * PAGE
