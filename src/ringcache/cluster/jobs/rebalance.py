"""A rebalance run: make each target worker hold what the current ring gives it.

Load phase: walk everything the cluster caches (every live worker's listing, merged; a
worker leaves out what it owns alone and holds whole, see `holdings`) and have each
target owner fetch the files it owns but lacks, from a peer holding them, else from the
UFS. Prune phase: walk again and drop copies on targets that are not owners, but
only for files every owner now holds whole, so no cached file is lost while data moves.
Both phases commit counters and a cursor (the last path done) chunk by chunk.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from .holdings import HoldingsChunk, holdings
from .model import Cursor, FailureReason
from .runner import JobRun

log = logging.getLogger(__name__)

CHUNK = 1000  # files walked per committed chunk, at least
MAX_CHUNK = 100_000  # bounds the holdings in memory (a few hundred bytes each)
CHUNK_PER_WORKER = 100  # per live worker: the share of a chunk that moves still fills batches
LOAD, PRUNE, DONE = 0, 1, 2


class RebalanceRun(JobRun):
    """Runs one rebalance job; `record.cursor.root` is the phase, `.after` the last path."""

    failed_message = "{count} copy(ies) could not be moved; resubmit to run again"
    _spec: tuple[Any, dict[str, Any]] | None = None  # the last ring and its listing spec

    async def _work(self) -> None:
        record = self.record
        if record.cursor.root == LOAD:
            await self._phase(LOAD)
            await self._next_phase(DONE if record.options.get("skipPrune") else PRUNE)
        if record.cursor.root == PRUNE:
            await self._phase(PRUNE)
            await self._next_phase(DONE)

    async def _next_phase(self, phase: int) -> None:
        self.record.cursor = Cursor(root=phase, listed=phase == DONE)
        await self.save()

    def _targets(self, live: set[str]) -> set[str]:
        target = self.record.target
        return set(live) if target == "ALL" else {target} & live

    async def _phase(self, phase: int) -> None:
        live = sorted(self.ring()[1])
        # A chunk is sent as one batch per worker, so it grows with the cluster: a fixed
        # 1,000 files over 1,000 workers would send a file or two per call.
        size = max(CHUNK, min(MAX_CHUNK, CHUNK_PER_WORKER * len(live)))
        lost = self.lost_files if phase == LOAD else None
        after = self.record.cursor.after
        walk = holdings(self.peers, live, self._ring_spec, after, lost, chunk=size)
        async for chunk in walk:
            await self._chunk(phase, chunk)

    def _ring_spec(self) -> dict[str, Any]:
        """The current ring, for workers to leave what it settles out of their listings:
        named by its fingerprint, its workers sent only to a worker that does not know it."""
        ring = self.ring()[0]
        if self._spec is None or self._spec[0] is not ring:
            spec = {
                # Kept in this process's cache too: a worker sharing the process (the
                # simulator, a local cluster) then finds it instead of building it again.
                "ring": self.env.rings.keep(ring),
                "virtualNodes": ring.virtual_nodes,
                "replicas": self.record.options.get("replicas", 1),
                "workers": list(ring.worker_ids),
            }
            self._spec = (ring, spec)
        return self._spec[1]

    async def _chunk(self, phase: int, chunk: HoldingsChunk) -> None:
        ring, live = self.ring()
        targets = self._targets(live)
        found = chunk.holdings
        owners = ring.owners_batch([h.path for h in found], self.record.options.get("replicas", 1))
        counters = {name: 0 for name in self.record.counters}
        failures: list[dict[str, Any]] = []
        if phase == LOAD:
            counters["scannedFiles"] = chunk.scanned
            await self._load(found, owners, targets, counters, failures)
        else:
            await self._prune(found, owners, targets, counters, failures)
        for name, value in counters.items():
            self.record.counters[name] += value
        self.record.add_failures(failures)
        self.record.cursor = Cursor(root=phase, after=chunk.last)
        self.record.elapsed = self.elapsed()
        self.run_started = self.env.clock.now()
        await self.save()

    async def _load(self, chunk, owners, targets, counters, failures) -> None:
        work: dict[str, list[tuple]] = defaultdict(list)
        for holding, file_owners in zip(chunk, owners, strict=True):
            peers = sorted(holding.complete)  # none for a lost file: it comes from the UFS
            for owner in file_owners:
                if owner in targets and owner not in holding.complete:
                    entry = (holding.path, holding.size, holding.mtime, holding.etag, peers)
                    work[owner].append(entry)
        options = {"jobId": self.record.id, "bandwidth": self.record.options.get("loadBandwidth")}
        batch = self.record.options.get("loadBatchSize", 200)
        for result in await self._dispatch("fetch_batch", work, batch, options):
            if result["status"] == "LOADED":
                counters["loadedFiles"] += 1
                counters["loadedBytes"] += result["bytes"]
                source = (
                    "loadedFromPeerBytes"
                    if result.get("source") == "peer"
                    else "loadedFromUfsBytes"
                )
                counters[source] += result["bytes"]
            elif result["status"] == "FAILED":
                counters["failedFiles"] += 1
                failures.append(_failure(result))

    async def _prune(self, chunk, owners, targets, counters, failures) -> None:
        work: dict[str, list[str]] = defaultdict(list)
        for holding, file_owners in zip(chunk, owners, strict=True):
            if not file_owners or not all(o in holding.complete for o in file_owners):
                continue  # an owner still lacks it: every copy stays until it has it
            for holder in sorted(holding.holders - set(file_owners)):
                if holder in targets:
                    work[holder].append(holding.path)
        options = {"jobId": self.record.id, "bandwidth": self.record.options.get("pruneBandwidth")}
        for result in await self._dispatch("prune_batch", work, CHUNK, options):
            if result["status"] == "FREED":
                counters["prunedFiles"] += 1
                counters["prunedBytes"] += result["bytes"]
            elif result["status"] == "FAILED":
                counters["failedFiles"] += 1
                failures.append(_failure(result))

    async def _dispatch(
        self, method: str, work: dict[str, list], batch_size: int, options: dict[str, Any]
    ) -> list[dict[str, Any]]:
        answered: set[str] = set()  # workers whose batches returned: their index is synced

        async def send(worker_id: str, items: list) -> list[dict[str, Any]]:
            async with self._slots[worker_id]:
                try:
                    results = await self.peers.worker(worker_id).call(method, items, options)
                    answered.add(worker_id)
                    return results
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # counted as failed copies, reported with the reason
                    message = f"{worker_id}: {type(exc).__name__}: {exc}"
                    return [
                        {
                            "path": item[0] if isinstance(item, tuple) else item,
                            "status": "FAILED",
                            "reason": str(FailureReason.WORKER_FAILED),
                            "message": message,
                        }
                        for item in items
                    ]

        sends = [
            send(worker_id, items[start : start + batch_size])
            for worker_id, items in sorted(work.items())
            for start in range(0, len(items), batch_size)
        ]
        answers = await asyncio.gather(*sends)
        # Once per chunk, not per batch: the index applies many workers' reports per commit.
        await self.note_results(sorted(answered))
        return [result for results in answers for result in results]


def _failure(result: dict[str, Any]) -> dict[str, Any]:
    return {k: result[k] for k in ("path", "reason", "message") if result.get(k)}
