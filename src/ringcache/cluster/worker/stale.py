"""Dropping stale cache: every file this worker holds but is no longer an owner of."""

from __future__ import annotations

import asyncio

from ..cache.store import PageStore
from ..ring.build import build_ring
from ..ring.policy import DEFAULT_POLICY, RingPolicy
from .holdings import Holdings


class StaleSweep:
    """A background sweep over what this worker holds, dropping what a ring gives others.

    Guarantees: at most one sweep runs (a new one cancels the old); it yields to the event
    loop between pages of the listing, so reads and heartbeats go on; the bytes it dropped
    are added to `counters["staleBytesDropped"]` when it completes.
    """

    def __init__(
        self, worker_id: str, store: PageStore, holdings: Holdings, counters: dict[str, int]
    ) -> None:
        self.worker_id = worker_id
        self.store = store
        self.holdings = holdings
        self.counters = counters
        self._task: asyncio.Task | None = None

    async def clear_stale(
        self,
        workers: list[str],
        virtual_nodes: int,
        replicas: int = 1,
        policy: str = DEFAULT_POLICY,
    ) -> None:
        """Start dropping, in the background, every file this worker is not an owner of."""
        await self.stop_clear_stale()
        ring = build_ring(workers, policy, virtual_nodes)
        self._task = asyncio.get_running_loop().create_task(self.sweep(ring, replicas))

    async def stop_clear_stale(self) -> None:
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def sweep(self, ring: RingPolicy, replicas: int) -> int:
        """Drop every held file `ring` does not give this worker; returns the bytes dropped."""
        dropped, cursor = 0, None
        while page := await self.holdings.list_cached(cursor, 1000):
            cursor = page[-1]["path"]
            paths = [entry["path"] for entry in page]
            for path, owners in zip(paths, ring.owners_batch(paths, replicas), strict=True):
                if self.worker_id not in owners:
                    dropped += self.store.remove_file(path)
            await asyncio.sleep(0)  # let reads and heartbeats through between pages
        self.counters["staleBytesDropped"] = self.counters.get("staleBytesDropped", 0) + dropped
        return dropped
