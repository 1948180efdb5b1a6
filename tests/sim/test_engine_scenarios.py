"""The job-engine scenarios at small scale: each passes its checkers, one seed gives one
summary, and the safety checker catches a store that silently loses a file."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

import ringcache.simulations.cluster as sim_cluster
import ringcache.simulations.namespace_owners as namespace_owners
from ringcache.cluster.cache.store import PageStore
from ringcache.cluster.errors import InvalidArgument
from ringcache.simulations.checks import SimulationCheckFailed, check_load_counters
from ringcache.simulations.namespace import SizeDistribution
from ringcache.simulations.scenarios import run_scenario, summary_json
from ringcache.simulations.spec import SimSpec, sim_config

SMALL = SimSpec(
    files_per_dir=50,
    sizes=SizeDistribution("lognormal", median=2 * 2**20, sigma=1.0, max=32 * 2**20),
    config=sim_config(virtual_nodes=100),
)


def _load_job_counted_everything(summary: dict) -> None:
    load = summary["jobs"]["load#1"]
    assert load["state"] == "SUCCEEDED"
    assert load["scannedFiles"] == summary["files"]
    assert load["totalBytes"] == summary["bytesInNamespace"]


def test_load_puts_every_file_on_its_owner_through_the_job_engine():
    summary = run_scenario("load", 5, 300, 1, spec=SMALL)
    _load_job_counted_everything(summary)
    assert summary["bytesFromUfs"] == summary["bytesInNamespace"]
    assert summary["perWorkerBytes"]["mean"] * 5 == pytest.approx(summary["bytesInNamespace"])
    assert summary["failures"] == {} and summary["faults"] == []


def test_scale_out_moves_exactly_the_bytes_whose_owner_changed():
    summary = run_scenario("scale-out", 8, 400, 2, spec=SMALL, add=2)
    _load_job_counted_everything(summary)
    moved = summary["bytesMoved"]
    assert summary["added"] == 2
    assert summary["jobs"]["rebalance#1"]["state"] == "SUCCEEDED"
    assert moved["moved"] == moved["ownerChanged"] == moved["pruned"] > 0
    assert moved["fromPeers"] == moved["moved"]  # every moved copy came from a peer
    assert 0.5 < moved["movedOverIdeal"] < 2.0
    assert len(summary["details"]["bytesPerWorker"]) == 10


def test_crash_kills_workers_and_the_load_still_places_every_file():
    summary = run_scenario("crash", 6, 400, 3, spec=SMALL, crashes=2)
    _load_job_counted_everything(summary)
    crashes = [f for f in summary["faults"] if f["kind"] == "crash-worker"]
    assert len(crashes) == 2 and not any(f.get("skipped") for f in crashes)
    load = summary["jobs"]["load#1"]
    assert all(f["at"] < 3.0 + load["virtualSeconds"] for f in crashes)  # during the load
    assert len(summary["details"]["bytesPerWorker"]) == 6  # healed before the summary


def test_restart_resumes_the_job_on_a_new_coordinator():
    summary = run_scenario("restart", 4, 300, 4, spec=SMALL)
    _load_job_counted_everything(summary)
    assert summary["coordinatorRestarts"] == 1
    assert [f["kind"] for f in summary["faults"]] == ["restart-coordinator"]


@pytest.mark.parametrize("name", ["scale-out", "crash", "restart"])
def test_one_seed_gives_one_summary_byte_for_byte(name):
    first = run_scenario(name, 5, 250, 7, spec=SMALL)
    second = run_scenario(name, 5, 250, 7, spec=SMALL)
    assert summary_json(first, details=True) == summary_json(second, details=True)
    other = run_scenario(name, 5, 250, 8, spec=SMALL)
    assert summary_json(other) != summary_json(first)


@pytest.mark.parametrize("name", ["scale-out", "restart"])
def test_where_the_file_index_lives_changes_nothing_in_a_run(name):
    here = run_scenario(name, 5, 250, 7, spec=replace(SMALL, index_process=False))
    helper = run_scenario(name, 5, 250, 7, spec=replace(SMALL, index_process=True))
    assert summary_json(helper, details=True) == summary_json(here, details=True)


def test_a_slower_file_index_leaves_the_load_as_fast():
    slow_node = replace(SMALL.node, index_rows_per_second=100.0)
    fast = run_scenario("load", 4, 400, 3, spec=SMALL)
    slow = run_scenario("load", 4, 400, 3, spec=replace(SMALL, node=slow_node))
    # The index catches up behind the job (tests/sim/test_load_overlap.py times it).
    assert slow["jobs"]["load#1"] == fast["jobs"]["load#1"]


class LossyStore(PageStore):
    """A page store with a bug: it silently drops the third file it is asked to record."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[str] = []
        self.lost: str | None = None

    def put_pages(self, path, first_index, pages, now, **given):
        if self.lost is None and path not in self.seen:
            self.seen.append(path)
            if len(self.seen) == 3:
                self.lost = path
        if path == self.lost:
            return []  # claims success, keeps nothing
        return super().put_pages(path, first_index, pages, now, **given)


def test_the_safety_checker_catches_a_store_that_loses_a_file(monkeypatch):
    monkeypatch.setattr(sim_cluster, "PageStore", LossyStore)
    with pytest.raises(SimulationCheckFailed) as failed:
        run_scenario("load", 3, 200, 5, spec=SMALL)
    error = failed.value
    assert error.check == "safety" and error.seed == 5
    assert any("is not cached whole on its owner" in p for p in error.problems)
    assert "replay: ringcache simulate load --workers 3 --files 200 --seed 5" in str(error)
    assert error.summary["jobs"]["load#1"]["state"] == "SUCCEEDED"  # the job did not notice


def test_the_counter_check_catches_a_file_counted_twice():
    from ringcache.simulations.cluster import SimCluster

    with SimCluster(replace(SMALL, workers=1, files=10)) as cluster:
        space = cluster.namespace
        twice = int(space.sizes[0])
        job = {
            "state": "SUCCEEDED",
            "scannedFiles": 11,
            "totalBytes": space.total_bytes + twice,
            "loadedNonEmptyFiles": 11,
            "loadedBytes": space.total_bytes + twice,
        }
        problems = check_load_counters(cluster, job)
        assert any("scannedFiles is 11" in p for p in problems)
        assert any("totalBytes" in p for p in problems)
        exact = {**job, "scannedFiles": 10, "totalBytes": space.total_bytes}
        exact.update(loadedNonEmptyFiles=10, loadedBytes=space.total_bytes)
        assert check_load_counters(cluster, exact) == []


def test_the_crash_scenario_needs_a_survivor():
    with pytest.raises(InvalidArgument):
        run_scenario("crash", 1, 10, 0)


def test_the_summary_json_leaves_details_out_unless_asked():
    summary = run_scenario("load", 2, 50, 1, spec=SMALL)
    assert "details" not in json.loads(summary_json(summary))
    assert "progress" in json.loads(summary_json(summary, details=True))["details"]


def test_a_listing_page_gives_every_worker_a_full_batch(monkeypatch):
    # A page spread over many workers must not make every batch tiny: 2,000 files over 50
    # workers are one page, a batch of about 40 files each (a page of 1,000 would be 20).
    from ringcache.cluster.worker.worker import Worker

    sizes = []
    load_batch = Worker.load_batch

    async def counting(self, files, options=None):
        sizes.append(len(files))
        return await load_batch(self, files, options)

    monkeypatch.setattr(Worker, "load_batch", counting)
    summary = run_scenario("load", 50, 2000, 1, spec=SMALL)
    _load_job_counted_everything(summary)
    assert sum(sizes) == 2000
    assert sum(sizes) / len(sizes) >= 30, sorted(sizes)


@pytest.mark.parametrize("walk_again", [False, True])
def test_a_rebalance_chunk_grows_with_the_cluster(monkeypatch, walk_again):
    # Each chunk is sent as a batch per worker, so it covers CHUNK_PER_WORKER files per live
    # worker (here 10 over 60 workers: 600), not the 100-file floor set for this test. The
    # prune phase walks again only when the load phase's leftovers were too many to keep.
    from ringcache.cluster.jobs import rebalance

    chunks: dict[int, list[int]] = {rebalance.LOAD: [], rebalance.PRUNE: []}
    chunk = rebalance.RebalanceRun._chunk

    async def counting(self, phase, walked):
        chunks[phase].append(walked.scanned)
        return await chunk(self, phase, walked)

    monkeypatch.setattr(rebalance, "CHUNK", 100)
    monkeypatch.setattr(rebalance, "CHUNK_PER_WORKER", 10)
    monkeypatch.setattr(rebalance, "MAX_LEFTOVERS", 0 if walk_again else 10**6)
    monkeypatch.setattr(rebalance.RebalanceRun, "_chunk", counting)
    summary = run_scenario("scale-out", 54, 3000, 2, spec=SMALL, add=6)
    job = summary["jobs"]["rebalance#1"]
    assert job["state"] == "SUCCEEDED" and job["scannedFiles"] == 3000
    assert job["prunedFiles"] == job["loadedFiles"] > 0  # checked in place by the scenario
    walks = [chunks[rebalance.LOAD], *([chunks[rebalance.PRUNE]] if walk_again else [])]
    assert chunks[rebalance.PRUNE] == [] or walk_again
    for sizes in walks:  # a walk covers every file, in chunks of 600 or so
        assert sum(sizes) == 3000, chunks
        # Settled files are counted now and then, and a file one worker skipped and
        # another listed is counted once in the chunk but twice when deciding to end it.
        assert all(480 <= size <= 900 for size in sizes[:-1]) and sizes[-1] <= 900, chunks


def test_the_prune_phase_keeps_the_copies_of_a_file_its_owner_lost_after_the_load_phase(
    monkeypatch,
):
    from ringcache.cluster.jobs import rebalance

    clusters: list[sim_cluster.SimCluster] = []
    enter = sim_cluster.SimCluster.__enter__
    monkeypatch.setattr(
        sim_cluster.SimCluster, "__enter__", lambda c: clusters.append(c) or enter(c)
    )
    kept: dict[str, bool] = {}  # a file its new owner lost: still on its old holder?
    prune = rebalance.RebalanceRun._prune_leftovers

    async def losing_some(self, leftovers):
        stores = clusters[-1].store
        ring = clusters[-1].coordinator.ring
        lost = []
        for path, _, holders in leftovers[::3]:
            owner = ring.owners(path)[0]
            lost.append((path, owner, next(h for h in holders if h != owner)))
        for path, owner, _ in lost:
            stores(owner).remove_file(path)  # evicted, say, since the load phase
        await prune(self, leftovers)
        kept.update((path, stores(holder).file_info(path) is not None) for path, _, holder in lost)

    monkeypatch.setattr(rebalance.RebalanceRun, "_prune_leftovers", losing_some)
    with pytest.raises(SimulationCheckFailed, match="not cached whole on its owner"):
        run_scenario("scale-out", 8, 600, 4, spec=SMALL, add=2)
    assert kept and all(kept.values())  # not one lost file lost its last copy


def test_lease_lapses_drop_workers_from_the_ring_and_the_files_follow_their_owners():
    summary = run_scenario("load", 6, 400, 5, spec=SMALL, lease_lapses=2)
    _load_job_counted_everything(summary)
    lapses = [f for f in summary["faults"] if f["kind"] == "lease-lapse"]
    assert len(lapses) == 2 and not any(f.get("skipped") for f in lapses)
    assert len({f["worker"] for f in lapses}) == 2
    # The ring lost two workers after the load had placed files on them, so a rebalance
    # moved their files to the new owners before the placement check passed.
    moved = summary["jobs"]["rebalance#membership"]
    assert moved["state"] == "SUCCEEDED" and moved["loadedFiles"] > 0
    assert summary["replay"].endswith("--lease-lapses 2 (with the SimSpec given in code)")
    again = run_scenario("load", 6, 400, 5, spec=SMALL, lease_lapses=2)
    assert summary_json(again, details=True) == summary_json(summary, details=True)


def test_a_rebalance_charges_every_peer_copy_to_the_network_and_disks(monkeypatch):
    seen = {}
    close = sim_cluster.SimCluster.close

    def closing(cluster):
        seen["unmetered"] = cluster.unmetered_io()
        seen["received"] = sum(node.meter.received_from_peers for node in cluster.nodes.values())
        return close(cluster)

    monkeypatch.setattr(sim_cluster.SimCluster, "close", closing)
    summary = run_scenario("scale-out", 6, 300, 2, spec=SMALL, add=2)
    assert seen["unmetered"] == 0  # no page read or write outside a timed I/O call
    assert seen["received"] == summary["bytesMoved"]["fromPeers"] > 0


def test_crashed_workers_restart_when_asked_and_the_load_still_places_every_file():
    summary = run_scenario("crash", 6, 400, 3, spec=SMALL, crashes=2, restart_after=1.5)
    _load_job_counted_everything(summary)
    kinds = [(f["kind"], f["worker"]) for f in summary["faults"] if not f.get("skipped")]
    crashed = sorted(w for k, w in kinds if k == "crash-worker")
    assert len(crashed) == 2 and sorted(w for k, w in kinds if k == "restart-worker") == crashed
    first_crash = min(f["at"] for f in summary["faults"] if f["kind"] == "crash-worker")
    restarts = [f["at"] for f in summary["faults"] if f["kind"] == "restart-worker"]
    assert min(restarts) == pytest.approx(first_crash + 1.5)
    assert "--restart-after 1.5" in summary["replay"]


def test_owners_and_placement_asked_in_chunks_answer_as_all_at_once(monkeypatch):
    monkeypatch.setattr(sim_cluster, "PageStore", LossyStore)
    with pytest.raises(SimulationCheckFailed) as whole:
        run_scenario("load", 3, 200, 5, spec=SMALL)
    # Chunks of 7 paths: a chunk boundary falls inside every directory of 50 files.
    monkeypatch.setattr(namespace_owners, "OWNER_CHUNK", 7)
    with pytest.raises(SimulationCheckFailed) as chunked:
        run_scenario("load", 3, 200, 5, spec=SMALL)
    assert chunked.value.problems == whole.value.problems
    assert summary_json(chunked.value.summary) == summary_json(whole.value.summary)
    # Paths made again for each pass rather than kept: the same answers.
    monkeypatch.setattr(namespace_owners, "KEPT_PATHS_UP_TO", 0)
    with pytest.raises(SimulationCheckFailed) as remade:
        run_scenario("load", 3, 200, 5, spec=SMALL)
    assert remade.value.problems == whole.value.problems
    assert summary_json(remade.value.summary) == summary_json(whole.value.summary)
    with sim_cluster.SimCluster(replace(SMALL, workers=3, files=200)) as cluster:
        ring = cluster.coordinator.ring
        everything = ring.first_owners(cluster.namespace.paths(0, 200))
        assert cluster.owners.file_owners(ring).tolist() == everything.tolist()
