"""A worker learns new mount points once per burst of misses, not once per file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ringcache.cluster.worker import worker as worker_module
from ringcache.local import LocalCluster


def test_a_burst_of_unknown_paths_reads_the_mount_table_once(
    cluster: LocalCluster, data_dir: Path, monkeypatch
) -> None:
    worker = next(iter(cluster.workers.values()))
    worker._stopped = True  # no heartbeat refreshes during the test
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{data_dir}", {}))
    reads = []
    original = worker_module.read_mount_entries

    async def counting(registry):
        reads.append(1)
        return await original(registry)

    monkeypatch.setattr(worker_module, "read_mount_entries", counting)

    async def burst():
        return await asyncio.gather(*(worker._resolve(f"/data/f{i}") for i in range(50)))

    resolved = cluster.run(burst())
    assert [uri for _, uri in resolved] == [f"file://{data_dir}/f{i}" for i in range(50)]
    assert len(reads) <= 1  # one refresh for all fifty (none if a heartbeat got there first)
