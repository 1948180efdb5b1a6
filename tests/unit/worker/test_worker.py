"""`Worker`, the shell: lease and lifecycle in the registry, and every call handed to a
service once the page store is open."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from ringcache.cluster.clock import RealClock
from ringcache.cluster.environment import Environment
from ringcache.cluster.errors import Unavailable
from ringcache.cluster.registry.memory_backend import MemoryBackend
from ringcache.cluster.registry.registry import Registry
from ringcache.cluster.ring.membership import NodeRecord, live_key, node_key
from ringcache.cluster.ufs.mount_store import write_mount_point
from ringcache.cluster.ufs.mounts import MountPoint
from ringcache.cluster.worker.worker import Worker
from ringcache.config import WorkerConfig

from .fakes import PAGE, WORKER_A, inline_io


class Direct:
    """A reference that calls the registry in this loop."""

    def __init__(self, target: Registry) -> None:
        self.target = target

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return await getattr(self.target, method)(*args, **kwargs)


def _worker(tmp_path: Path) -> tuple[Worker, Direct]:
    registry = Direct(Registry(MemoryBackend(), RealClock()))
    config = WorkerConfig(
        cache_dir=tmp_path / "cache", capacity=64 * PAGE, page_size=PAGE, heartbeat_interval=60
    )
    env = Environment(run_io=inline_io)
    worker = Worker(WORKER_A, config, registry, env, cache_dir=tmp_path / "cache", lease_ttl=30)
    return worker, registry


def test_calls_before_start_are_unavailable(tmp_path: Path, run) -> None:
    worker, _ = _worker(tmp_path)
    for call in (worker.read("/data/a"), worker.stats(), worker.load_batch([])):
        with pytest.raises(Unavailable):
            run(call)


def test_a_started_worker_is_registered_serves_and_leaves_on_decommission(
    tmp_path: Path,
) -> None:
    worker, registry = _worker(tmp_path)
    ufs = tmp_path / "ufs"
    ufs.mkdir()
    data = os.urandom(3 * PAGE)
    (ufs / "a.bin").write_bytes(data)

    async def scenario() -> None:
        await write_mount_point(registry, MountPoint("/data", f"file://{ufs}"))
        assert await worker.start() == WORKER_A
        record = NodeRecord.decode((await registry.call("get", node_key(WORKER_A))).value)
        assert (record.id, record.capacity_bytes) == (WORKER_A, 64 * PAGE)
        assert (await registry.call("get", live_key(WORKER_A))).lease == worker.lease
        answers = await worker.load_batch(["/data/a.bin"])
        assert answers[0].status == "LOADED"
        assert await worker.read("/data/a.bin", PAGE, 10) == data[PAGE : PAGE + 10]
        stats = await worker.stats()
        assert (stats["cachedFiles"], stats["usedBytes"], stats["hits"]) == (1, 3 * PAGE, 1)
        assert [e["path"] for e in await worker.list_cached()] == [f"file://{ufs}/a.bin"]
        report = await worker.drain_index_reports()
        assert report["full"] and [f[0] for f in report["files"]] == [f"file://{ufs}/a.bin"]
        await worker.decommission()
        assert await registry.call("get", live_key(WORKER_A)) is None
        await worker.heartbeat()  # a decommissioned worker does not rejoin
        assert await registry.call("get", live_key(WORKER_A)) is None

    asyncio.run(scenario())
