"""The coordinator's memory over a load job of a million listed files.

    .venv/bin/python bench/bench_job_memory.py [--files 1000000] [--workers 16]

The subject is the coordinator's job flow (listing, planning, batching, checkpoints): it
runs the real `JobManager` over a real SQLite registry and the simulator's generated UFS
(sizes only), with workers that answer every batch at once (the workers' own memory is not
what is measured). Python's allocations are traced while the job runs; the aim is that the
peak growth stays under 200 MB however many files are listed, because the listing streams.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

from ringcache.cluster.clock import RealClock
from ringcache.cluster.environment import Environment
from ringcache.cluster.jobs.manager import JobManager
from ringcache.cluster.refs import LocalRef
from ringcache.cluster.registry import open_registry
from ringcache.cluster.results import FileResult, loaded
from ringcache.cluster.ring.hash_ring import HashRing
from ringcache.cluster.ufs.mount_store import read_mount_table, write_mount_point
from ringcache.cluster.ufs.mounts import MountPoint
from ringcache.simulations.costs import IoMeter, NetworkModel, NodeModel
from ringcache.simulations.namespace import SimNamespace
from ringcache.simulations.ufs import SimUfs


class InstantWorker:
    """Answers a load batch at once: every file LOADED."""

    async def call(
        self, method: str, entries: list[Any], options: dict[str, Any]
    ) -> list[FileResult]:
        await asyncio.sleep(0)
        return [loaded(e[0], e[1]) for e in entries]


class InstantPeers:
    def __init__(self) -> None:
        self.worker_ref = InstantWorker()

    def worker(self, worker_id: str) -> InstantWorker:
        return self.worker_ref


async def run(files: int, workers: int, state: Path) -> dict[str, Any]:
    registry = open_registry(state, RealClock())
    registry_ref = LocalRef(registry, asyncio.get_running_loop())
    namespace = SimNamespace("sim://bucket/data", files, files_per_dir=1000)
    ufs = SimUfs(namespace, IoMeter(NodeModel(), NetworkModel(), None))
    env = Environment(ufs_factory=lambda root, options: ufs)
    await write_mount_point(registry_ref, MountPoint("/data", "sim://bucket/data", {}))
    ids = [f"worker-{uuid.UUID(int=i + 1)}" for i in range(workers)]
    ring = HashRing(ids, virtual_nodes=200)
    manager = JobManager(
        registry_ref,
        InstantPeers(),
        env,
        ring=lambda: (ring, set(ids)),
        mounts=lambda: read_mount_table(registry_ref),
        lease_ttl=15,
    )
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    await manager.submit("load", {"paths": ["/data"], "alias": "million"})
    while True:
        job = await manager.get("load", "alias", "million")
        if job["state"] in ("SUCCEEDED", "FAILED", "STOPPED"):
            break
        await asyncio.sleep(0.5)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    registry.close()
    return {
        "files": files,
        "workers": workers,
        "state": job["state"],
        "scannedFiles": job["scannedFiles"],
        "loadedBytes": job["loadedBytes"],
        "seconds": round(time.perf_counter() - started, 1),
        "files_per_second": round(files / (time.perf_counter() - started)),
        "peak_growth_MB": round((peak - baseline) / 1e6, 1),
        "growth_after_MB": round((current - baseline) / 1e6, 1),
        "max_rss_MB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(asyncio.run(run(args.files, args.workers, Path(tmp))), indent=2))


if __name__ == "__main__":
    main()
