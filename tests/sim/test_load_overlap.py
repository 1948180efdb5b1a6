"""A load bounded by the network: listing, dispatch and file-index updates overlapped.

The simulator is deterministic, so the virtual durations asserted here are exact results of
the engine and its cost model, not wall-clock measurements.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from ringcache.cluster.jobs import paging
from ringcache.simulations.checks import check_index, check_load_counters, check_placement
from ringcache.simulations.cluster import SimCluster
from ringcache.simulations.costs import NetworkModel, NodeModel
from ringcache.simulations.jobs import run_job
from ringcache.simulations.scenarios import run_scenario
from ringcache.simulations.spec import SimSpec, sim_config

SLOW_INDEX = replace(SimSpec(), node=replace(NodeModel(), index_rows_per_second=2_000.0))

#: A flat stretch: this share of the load's network bound, or more, with no byte loaded
#: while some remain, after the first batches have landed.
FLAT = 0.2


def flat_stretches(points: list[dict], total: int, longest: float) -> list[tuple[float, float]]:
    """The (start, end) virtual times of each stretch longer than `longest` in which
    `loadedBytes` did not grow, counted from the first growth until it reaches `total`."""
    stretches, since, last = [], None, 0
    for point in points:
        loaded = point["loadedBytes"]
        if loaded != last:
            if since is not None and point["t"] - since > longest:
                stretches.append((since, point["t"]))
            since, last = point["t"], loaded
        if loaded >= total:
            break
    return stretches


def test_flat_stretches_are_found_where_progress_stops():
    points = [{"t": t, "loadedBytes": b} for t, b in [(0, 0), (1, 5), (2, 5), (3, 5), (4, 9)]]
    assert flat_stretches(points, 10, 2.5) == [(1, 4)]
    assert flat_stretches(points, 10, 3.0) == []
    assert flat_stretches(points, 9, 1.0) == [(1, 4)]  # up to the point the total is reached


@pytest.fixture
def big_cluster_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page shape of 1,000 workers, scaled down to 20: a page holds about half a
    batch a worker, and the pages loading hold four pages of files between them."""
    monkeypatch.setattr(paging, "FILES_IN_FLIGHT", 4000)  # pages of up to 1,000 files


@pytest.fixture
def slow_index_load(big_cluster_pages: None) -> dict:
    """A load of 20,000 files on 20 workers with a file index of 2,000 rows a second (a
    load that waited on it would take at least 10 s, against a network bound of 3 s)."""
    summary = run_scenario("load", 20, 20_000, 1, spec=SLOW_INDEX, batch_size=100)
    load = summary["jobs"]["load#1"]
    assert load["state"] == "SUCCEEDED" and load["scannedFiles"] == 20_000
    return summary


def test_a_load_takes_at_most_1_3x_its_network_bound(slow_index_load: dict):
    load = slow_index_load["jobs"]["load#1"]
    bound = load["networkBoundSeconds"]
    assert bound >= load["meanNetworkBoundSeconds"] > 2.5  # a load that the network bounds
    assert load["virtualSeconds"] <= 1.3 * bound
    assert load["overNetworkBound"] == round(load["virtualSeconds"] / bound, 6)


def test_the_progress_has_no_flat_stretch_while_work_remains(slow_index_load: dict):
    load = slow_index_load["jobs"]["load#1"]
    points = slow_index_load["details"]["progress"]["load#1"]
    assert len(points) > 20  # sampled finely enough to see a stretch of FLAT
    assert flat_stretches(points, load["totalBytes"], FLAT * load["networkBoundSeconds"]) == []


def test_a_slow_listing_of_many_directories_still_leaves_the_load_network_bound():
    # 400 directories of 50 files, each listing call 50 ms: 20 s one directory at a time.
    network = replace(NetworkModel(), ufs_metadata_latency=0.05)
    spec = replace(SimSpec(), files_per_dir=50, network=network)
    summary = run_scenario("load", 20, 20_000, 1, spec=spec, batch_size=100)
    load = summary["jobs"]["load#1"]
    assert load["state"] == "SUCCEEDED" and load["scannedFiles"] == 20_000
    assert load["virtualSeconds"] <= 1.3 * load["networkBoundSeconds"]


def test_pages_overlap_and_every_file_is_counted_once_on_its_owner():
    # Small batches over many directories: many pages listed, loading and committing at once.
    spec = SimSpec(workers=5, files=3000, files_per_dir=40, seed=3, config=sim_config())
    with SimCluster(spec) as cluster:
        job, most = cluster.run(_load_watching_pages(cluster, batch_size=20))
        assert most >= 3  # pages really were in flight together
        assert check_load_counters(cluster, job) == []
        assert check_placement(cluster, exact=True, failed=set()) == []


def test_a_coordinator_killed_with_pages_in_flight_resumes_counting_each_file_once():
    summary = run_scenario("restart", 5, 3000, 5, restarts=3, batch_size=20)
    load = summary["jobs"]["load#1"]
    assert summary["coordinatorRestarts"] == 3
    assert load["state"] == "SUCCEEDED"  # the scenario's checks passed: counters, placement
    assert load["scannedFiles"] == 3000 and load["totalBytes"] == summary["bytesInNamespace"]
    assert load["loadedBytes"] + load["skippedBytes"] == load["totalBytes"]


def test_the_file_index_agrees_with_the_stores_after_a_load_a_rebalance_and_a_free():
    # No periodic sync within the test: what the index knows, the jobs' notes brought.
    config = sim_config(policies={"file_index": {"sync_interval": 3600}})
    spec = SimSpec(workers=4, files=600, files_per_dir=50, seed=2, config=config)
    with SimCluster(spec) as cluster:
        found = cluster.run(_load_rebalance_free(cluster))
    assert found == {"load": [], "rebalance": [], "free": []}
    assert found  # (each step was checked)


async def _load_watching_pages(cluster: SimCluster, batch_size: int) -> tuple[dict, int]:
    most = 0

    async def watch() -> None:
        nonlocal most
        while True:
            for run in cluster.coordinator.jobs.runs.values():
                most = max(most, len(run.in_flight))
            await asyncio.sleep(0.01)

    watcher = asyncio.get_running_loop().create_task(watch())
    body = {"paths": ["/data"], "alias": "all", "options": {"batchSize": batch_size}}
    try:
        job = await run_job(cluster, "load", body)
    finally:
        watcher.cancel()
    return job, most


async def _load_rebalance_free(cluster: SimCluster) -> dict[str, list[str]]:
    found = {}
    job = await run_job(cluster, "load", {"paths": ["/data"], "alias": "all"})
    assert job["state"] == "SUCCEEDED"
    found["load"] = await check_index(cluster)
    await cluster.add_worker()
    while len(cluster.coordinator.ring) < 5:
        await asyncio.sleep(0.1)
    job = await run_job(cluster, "rebalance", {"target": "ALL"})
    assert job["state"] == "SUCCEEDED" and job["prunedFiles"] > 0
    found["rebalance"] = await check_index(cluster)
    free = {"paths": ["/data/" + cluster.namespace.dir_name(0)], "alias": "one-dir"}
    job = await run_job(cluster, "free", free)
    assert job["state"] == "SUCCEEDED" and job["freedFiles"] == 50
    found["free"] = await check_index(cluster)
    return found


def test_a_slow_file_index_catches_up_behind_the_load_and_agrees_with_the_stores():
    config = sim_config(policies={"file_index": {"sync_interval": 3600}})
    slow_node = replace(NodeModel(), index_rows_per_second=100.0)
    spec = SimSpec(workers=4, files=400, files_per_dir=50, node=slow_node, config=config)
    with SimCluster(spec) as cluster:
        job, loaded, caught_up, problems = cluster.run(_load_then_catch_up(cluster))
    assert job["state"] == "SUCCEEDED"
    assert loaded < 2.0  # the load did not wait for 400 rows at 100 a second...
    assert caught_up >= 400 / 100.0  # ...which the index still wrote, behind it
    assert problems == []


async def _load_then_catch_up(cluster: SimCluster) -> tuple[dict, float, float, list[str]]:
    started = cluster.clock.elapsed()
    job = await run_job(cluster, "load", {"paths": ["/data"], "alias": "all"})
    loaded = cluster.clock.elapsed() - started
    await cluster.coordinator.index_feed.caught_up()
    caught_up = cluster.clock.elapsed() - started
    return job, loaded, caught_up, await check_index(cluster)
