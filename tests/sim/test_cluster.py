"""SimCluster: the real coordinator, workers and registry under virtual time."""

from __future__ import annotations

import asyncio
import gc

import pytest

from ringcache.cluster.coordinator.coordinator import Coordinator
from ringcache.cluster.errors import InvalidArgument
from ringcache.cluster.registry import Registry
from ringcache.cluster.ufs.filesystem import FileVersion
from ringcache.cluster.worker.worker import Worker
from ringcache.simulations.cluster import SimCluster
from ringcache.simulations.spec import SimSpec, sim_config


def _spec(**kw) -> SimSpec:
    config = sim_config(virtual_nodes=50, lease_ttl=6.0, heartbeat_interval=2.0)
    return SimSpec(**{"workers": 4, "files": 50, "config": config, **kw})


def test_it_runs_the_production_classes_with_one_ring_build_at_start():
    with SimCluster(_spec(workers=20)) as cluster:
        assert type(cluster.coordinator) is Coordinator
        assert type(cluster.registry) is Registry
        assert all(type(node.worker) is Worker for node in cluster.nodes.values())
        assert list(cluster.coordinator.ring.worker_ids) == cluster.worker_ids
        assert cluster.coordinator.ring_version == 1  # the workers were all seen at once
        mounts = cluster.run(cluster.coordinator_ref().call("list_mounts"))
        assert [(m["path"], m["ufs"]) for m in mounts] == [("/data", "sim://data")]


def test_the_cyclic_collector_is_paused_for_the_cluster_life_and_its_disks_dropped_after():
    assert gc.isenabled()
    with SimCluster(_spec()) as cluster:
        assert not gc.isenabled()  # also between two runs
        cluster.run(asyncio.sleep(1))
        assert not gc.isenabled()
        store = cluster.store(cluster.worker_ids[0])
        store.set_file("sim://data/x", FileVersion(1, 0.0, None), 0.0)
    assert gc.isenabled()
    assert store.paths() == []  # freed with the cluster, not left to the collector


def test_leases_stay_alive_for_a_virtual_hour_and_all_io_is_metered():
    with SimCluster(_spec()) as cluster:
        cluster.run(asyncio.sleep(3600))
        assert len(cluster.coordinator.ring) == 4
        assert cluster.clock.elapsed() >= 3600
        nodes = cluster.run(cluster.coordinator_ref().call("list_nodes"))
        assert sorted(node["state"] for node in nodes) == ["ONLINE"] * 4
        assert cluster.unmetered_io() == 0


def test_a_crashed_worker_leaves_the_ring_when_its_lease_lapses_and_can_come_back():
    with SimCluster(_spec()) as cluster:
        victim = cluster.worker_ids[1]
        store = cluster.store(victim)

        async def crash_and_watch() -> list[int]:
            await cluster.crash_worker(victim)
            sizes = [len(cluster.coordinator.ring)]
            await asyncio.sleep(3.0)  # within the lease: still on the ring
            sizes.append(len(cluster.coordinator.ring))
            await asyncio.sleep(10.0)  # lapsed
            sizes.append(len(cluster.coordinator.ring))
            return sizes

        assert cluster.run(crash_and_watch()) == [4, 4, 3]
        assert cluster.live_worker_ids() == [w for w in cluster.worker_ids if w != victim]
        with pytest.raises(InvalidArgument):
            cluster.run(cluster.crash_worker(victim))
        cluster.run(cluster.restart_worker(victim))
        cluster.run(asyncio.sleep(1.0))
        assert victim in cluster.coordinator.ring
        assert cluster.store(victim) is store  # its disk survived the crash


def test_added_workers_join_the_ring():
    with SimCluster(_spec()) as cluster:
        new = cluster.run(cluster.add_worker())
        cluster.run(asyncio.sleep(1.0))
        assert new in cluster.coordinator.ring and len(cluster.coordinator.ring) == 5


def test_worker_ids_and_slow_workers_come_from_the_seed():
    def layout(seed: int) -> tuple[list[str], list[float]]:
        cluster = SimCluster(_spec(seed=seed, workers=6, slow_workers=2, slowdown=3.0))
        try:
            cluster.run(cluster.start())
            return cluster.worker_ids, [cluster.nodes[w].model.slowdown for w in cluster.worker_ids]
        finally:
            cluster.close()

    ids, slowdowns = layout(1)
    assert layout(1) == (ids, slowdowns)
    assert layout(2)[0] != ids
    assert sorted(slowdowns) == [1.0, 1.0, 1.0, 1.0, 3.0, 3.0]


def test_the_coordinator_browses_the_simulated_ufs():
    with SimCluster(_spec(files=12)) as cluster:
        ref = cluster.coordinator_ref()
        top = cluster.run(ref.call("list_dir", "/data"))
        assert [entry["path"] for entry in top] == ["/data/dir-0000"]
        file = cluster.namespace.path(3).replace("sim://data", "/data")
        stat = cluster.run(ref.call("stat", file))
        assert (stat["type"], stat["size"]) == ("file", cluster.namespace.size(3))


def test_the_placement_check_names_a_copy_on_a_worker_that_does_not_own_it():
    from ringcache.simulations.checks import check_placement
    from ringcache.simulations.jobs import run_job

    with SimCluster(_spec(files=40)) as cluster:
        job = cluster.run(run_job(cluster, "load", {"paths": ["/data"], "alias": "a"}))
        assert job["state"] == "SUCCEEDED"
        assert check_placement(cluster, exact=True, failed=set()) == []
        path = cluster.namespace.path(7)
        (owner,) = cluster.coordinator.ring.owners(path)
        stranger = next(w for w in cluster.worker_ids if w != owner)
        version = cluster.store(owner).file_info(path).version
        cluster.store(stranger).set_file(path, version, 0.0)  # a stray record, no page yet
        assert check_placement(cluster, exact=False, failed=set()) == []
        assert check_placement(cluster, exact=True, failed=set()) == [
            f"{path} is cached on {stranger}, which does not own it"
        ]


def test_a_fetch_batch_takes_bundles_from_peers_a_few_at_a_time_and_falls_back_to_the_ufs():
    from ringcache.cluster.worker.peer_copy import BUNDLE_LANES

    with SimCluster(_spec(files=40)) as cluster:
        source, target, gone = (cluster.nodes[w].worker for w in cluster.worker_ids[:3])
        uris = cluster.namespace.paths(0, 40)
        loaded = cluster.run(source.load_batch(uris, {}))
        assert {answer.status for answer in loaded} == {"LOADED"}
        serving, most = 0, 0
        read_many = source.read_cached_many

        async def counted(items):
            nonlocal serving, most
            serving += 1
            most = max(most, serving)
            try:
                return await read_many(items)
            finally:
                serving -= 1

        source.read_cached_many = counted
        cluster.run(cluster.crash_worker(gone.worker_id))
        versions = [cluster.store(source.worker_id).file_info(uri).version for uri in uris]
        # The first half is asked of the worker that holds it, the rest of a dead one.
        entries = [
            (uri, v.size, v.mtime, v.etag, [source.worker_id if i < 20 else gone.worker_id])
            for i, (uri, v) in enumerate(zip(uris, versions, strict=True))
        ]
        answers = cluster.run(target.fetch_batch(entries, {}))
        assert [(a.status, a.source) for a in answers] == [("LOADED", "peer")] * 20 + [
            ("LOADED", "ufs")
        ] * 20
        assert most == BUNDLE_LANES  # bundles overlap, but no more than that many
        assert cluster.store(target.worker_id).lacking_whole(uris) == []
