"""Loading the whole namespace straight through the workers, without the job engine.

The flow a load job follows (list in pages, plan by ring owner, dispatch batches with
bounded concurrency, collect), kept minimal: no checkpoints and no retries, so that a
scenario measures the workers, the ring and the models, and so that it can run before the
coordinator's job engine is wired in. It stands in for the coordinator: it reads the
coordinator's ring and lists on the coordinator's machine.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from ..cluster.errors import RingcacheError
from .cluster import SimCluster


@dataclass
class LoadTally:
    """What a load did: files and bytes by outcome, failures by reason, per owner."""

    files_loaded: int = 0
    bytes_loaded: int = 0
    files_skipped: int = 0
    batches: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    bytes_by_worker: Counter[str] = field(default_factory=Counter)


async def load_namespace(
    cluster: SimCluster,
    *,
    batch_size: int = 100,
    per_worker_batches: int = 2,
    max_pending_batches: int = 4096,
    listing_page: int = 1000,
) -> LoadTally:
    """Load every file of the namespace onto its first ring owner; returns the tally.

    At most `per_worker_batches` batches run on one worker at once and at most
    `max_pending_batches` are planned but unfinished, so memory stays bounded however many
    files there are (the listing waits for room).
    """
    coordinator = cluster.coordinator
    if coordinator is None:
        raise RuntimeError("the cluster has not started")
    node = cluster.coordinator_node
    tally = LoadTally()
    slots: dict[str, asyncio.Semaphore] = {}
    room = asyncio.Semaphore(max_pending_batches)
    tasks: list[asyncio.Task[None]] = []

    async def dispatch(owner: str, batch: list[tuple]) -> None:
        try:
            async with slots.setdefault(owner, asyncio.Semaphore(per_worker_batches)):
                try:
                    results = await cluster.worker_ref(owner).call("load_batch", batch)
                except RingcacheError as exc:  # the whole batch failed: the owner is gone
                    reason = exc.details.get("reason") or type(exc).__name__
                    tally.failures[str(reason)] += len(batch)
                    return
            _count(tally, owner, results)
        finally:
            room.release()

    async def send(owner: str, batch: list[tuple]) -> None:
        await room.acquire()
        tally.batches += 1
        tasks.append(asyncio.get_running_loop().create_task(dispatch(owner, batch)))
        if len(tasks) > 2 * max_pending_batches:  # drop finished ones: memory stays bounded
            tasks[:] = [task for task in tasks if not task.done()]

    pages = node.ufs.list_files(cluster.spec.ufs_root, page_size=listing_page)
    planned: dict[str, list[tuple]] = {}
    while (page := await node.env.run_io(next, pages, None)) is not None:
        owners = coordinator.ring.owners_batch([status.path for status in page])
        for status, (owner,) in zip(page, owners, strict=True):
            batch = planned.setdefault(owner, [])
            batch.append((status.path, status.size, status.mtime, status.etag))
            if len(batch) >= batch_size:
                await send(owner, planned.pop(owner))
    for owner in sorted(planned):
        await send(owner, planned[owner])
    await asyncio.gather(*tasks)
    return tally


def _count(tally: LoadTally, owner: str, results: list[dict]) -> None:
    for result in results:
        status = result["status"]
        if status == "LOADED":
            tally.files_loaded += 1
            tally.bytes_loaded += result["bytes"]
            tally.bytes_by_worker[owner] += result["bytes"]
        elif status == "SKIPPED":
            tally.files_skipped += 1
        else:
            tally.failures[str(result["reason"] or status)] += 1
