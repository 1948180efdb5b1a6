"""The simulator and the in-process cluster agree on hit ratios for the same workload.

One seeded dataset and one single-client epochs workload run twice: in the simulator
(`run_train`, sizes only, virtual time) and on a `LocalCluster` with the dataset written
as real files, read byte for byte through the real client and the workers' data servers.
Both clusters have the same worker ids, ring, capacity and page size, so each file has the
same owner; the per-epoch page and byte counts of the workers must then be exactly equal.
"""

from __future__ import annotations

import random
from pathlib import Path

from ringcache.client.client import connect
from ringcache.local import LocalCluster
from ringcache.simulations.namespace import SimNamespace, SizeDistribution
from ringcache.simulations.spec import SimSpec, sim_config
from ringcache.simulations.train import run_train, window_counts
from ringcache.simulations.workloads import Window, epochs_workload
from tests.conftest import make_config

FILES = 2000
EPOCHS = 3
PAGE = 4096
CAPACITY = 1_200_000  # per worker: 3.6 MB of a ~14 MB dataset, so eviction runs all along
SIZES = SizeDistribution("lognormal", median=6000, sigma=0.8, min=1, max=60_000)
COMPARED = ("hits", "misses", "bytesFromCache", "bytesFromUfs", "bytesServed")


def _spec(root: Path, seed: int) -> SimSpec:
    return SimSpec(
        workers=3,
        files=FILES,
        seed=seed,
        sizes=SIZES,
        ufs_root=f"file://{root / 'ufs'}",
        config=sim_config(
            capacity=CAPACITY, page_size=PAGE, virtual_nodes=100, allowed_local_roots=[str(root)]
        ),
    )


def _write_dataset(spec: SimSpec) -> SimNamespace:
    """The simulator's namespace (as `SimCluster` builds it), as real files of random bytes."""
    space = SimNamespace(
        spec.ufs_root,
        spec.files,
        files_per_dir=spec.files_per_dir,
        sizes=spec.sizes,
        seed=spec.seed_for("sizes"),
    )
    fill = random.Random(spec.seed)
    for uri, size in space.paths_and_sizes(0, space.files):
        path = Path(uri.removeprefix("file://"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(fill.randbytes(size))
    return space


def _replay(
    root: Path, worker_ids: list[str], windows: list[Window]
) -> tuple[list[dict], list[str]]:
    """The windows read through the real client on a LocalCluster with these worker ids;
    each window's counts, and the cluster's ring members."""
    # A long lease: a worker missing a heartbeat on a busy machine must not leave the ring.
    config = make_config(root, workers=3, capacity=CAPACITY, page_size=PAGE, lease_ttl=30.0)
    for n, worker_id in enumerate(worker_ids):  # LocalCluster keeps the id in w<n>/worker-id
        (config.worker.cache_dir / f"w{n}").mkdir(parents=True)
        (config.worker.cache_dir / f"w{n}" / "worker-id").write_text(worker_id + "\n")
    rows = []
    with LocalCluster(config) as cluster:
        mount = cluster.coordinator_ref.call("add_mount", "/data", f"file://{root / 'ufs'}", {})
        cluster.run(mount)
        client = connect(cluster=cluster, short_circuit=False, ufs_fallback=False, remember=False)
        members = list(cluster.coordinator.ring.worker_ids)

        def counters() -> dict[str, dict[str, int]]:
            return {w: dict(worker.counters) for w, worker in cluster.workers.items()}

        for window in windows:
            before = counters()
            for read in window.clients[0]:
                data = client.read(read.path, read.offset, read.length)
                assert data == Path(read.path.removeprefix("file://")).read_bytes()
            rows.append(window_counts(before, counters()))
    return rows, members


def test_simulator_and_local_cluster_agree_on_per_epoch_hit_ratios(tmp_path: Path) -> None:
    spec = _spec(tmp_path, seed=7)
    space = _write_dataset(spec)
    assert space.total_bytes > 3 * 3 * CAPACITY  # the cache holds under a third of the data

    def workload(paths: list[str]) -> list[Window]:
        return epochs_workload(paths, EPOCHS, clients=1, seed=spec.seed)

    simulated = run_train(spec, workload, clients=1)
    worker_ids = simulated["details"]["workers"]
    real, members = _replay(tmp_path, worker_ids, workload(space.paths(0, space.files)))

    assert sorted(members) == sorted(worker_ids)
    assert len(simulated["windows"]) == len(real) == EPOCHS
    assert simulated["windows"][0]["hits"] == 0  # a cold cache
    assert all(row["evictedPages"] > 0 for row in simulated["windows"])
    assert 0 < simulated["windows"][-1]["hitRatio"] < 1
    for epoch, (sim, got) in enumerate(zip(simulated["windows"], real, strict=True), 1):
        assert {k: sim[k] for k in COMPARED} == {k: got[k] for k in COMPARED}, f"epoch {epoch}"
        assert sim["hitRatio"] == got["hitRatio"] and sim["byteHitRatio"] == got["byteHitRatio"]
        served = simulated["details"]["servedPerWorker"][epoch - 1]
        assert served == got["servedPerWorker"], f"epoch {epoch}"
