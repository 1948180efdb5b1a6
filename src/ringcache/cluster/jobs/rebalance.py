"""A rebalance run: make each target worker hold what the current ring gives it.

Load phase: walk everything the cluster caches (every live worker's listing, merged; a
worker leaves out what it owns alone and holds whole, see `holdings`) and have each
target owner fetch the files it owns but lacks, from a peer holding them, else from the
UFS. Prune phase: drop copies on targets that are not owners, but only for files every
owner now holds whole, so no cached file is lost while data moves.

The load phase notes the files it saw copies of on targets that do not own them (the
leftovers), and the prune phase asks their owners whether they hold them whole now: it
need not walk everything again. A run that did not walk the whole load phase itself (it
resumed after a coordinator restart) or saw too many leftovers to keep walks again. A
copy made after the load phase walked past its file (a load on an older ring) is left to
the next rebalance either way, as one made after a second walk would be.
Both phases commit counters and a cursor (the last path done) chunk by chunk.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from ..results import FailureReason, FileOutcome, FileResult, failure
from .holdings import HoldingsChunk, holdings
from .model import Cursor
from .runner import JobRun

log = logging.getLogger(__name__)

CHUNK = 1000  # files walked per committed chunk, at least
MAX_CHUNK = 100_000  # bounds the holdings in memory (a few hundred bytes each)
CHUNK_PER_WORKER = 100  # per live worker: the share of a chunk that moves still fills batches
MAX_LEFTOVERS = 1_000_000  # more than this and the prune phase walks again instead
LOAD, PRUNE, DONE = 0, 1, 2

# A file the load phase saw copies of on targets that do not own it: its path, version and
# holders (the prune phase takes the owners from the ring as it is then).
Leftover = tuple[str, tuple[int, float | None, str | None], list[str]]


class RebalanceRun(JobRun):
    """Runs one rebalance job; `record.cursor.root` is the phase, `.after` the last path."""

    failed_message = "{count} copy(ies) could not be moved; resubmit to run again"
    _spec: tuple[Any, dict[str, Any]] | None = None  # the last ring and its listing spec
    _leftovers: list[Leftover] | None = None  # in path order; None: not known, walk

    async def _work(self) -> None:
        record = self.record
        if record.cursor.root == LOAD:
            self._leftovers = [] if record.cursor.after is None else None
            await self._phase(LOAD)
            await self._next_phase(DONE if record.options.get("skipPrune") else PRUNE)
        if record.cursor.root == PRUNE:
            if self._leftovers is None:
                await self._phase(PRUNE)
            else:
                await self._prune_leftovers(self._leftovers)
            self._leftovers = None
            await self._next_phase(DONE)

    async def _next_phase(self, phase: int) -> None:
        self.record.cursor = Cursor(root=phase, listed=phase == DONE)
        await self.save()

    def _targets(self, live: set[str]) -> set[str]:
        target = self.record.target
        return set(live) if target == "ALL" else {target} & live

    def _chunk_size(self) -> int:
        # A chunk is sent as one batch per worker, so it grows with the cluster: a fixed
        # 1,000 files over 1,000 workers would send a file or two per call.
        return max(CHUNK, min(MAX_CHUNK, CHUNK_PER_WORKER * len(self.ring()[1])))

    async def _phase(self, phase: int) -> None:
        live = sorted(self.ring()[1])
        lost = self.lost_files if phase == LOAD else None
        after = self.record.cursor.after
        walk = holdings(self.peers, live, self._ring_spec, after, lost, chunk=self._chunk_size())
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
                "ringPolicy": ring.policy,
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
            self._note_leftovers(found, owners, targets)
        else:
            work: dict[str, list[str]] = defaultdict(list)
            for holding, file_owners in zip(found, owners, strict=True):
                if not file_owners or not all(o in holding.complete for o in file_owners):
                    continue  # an owner still lacks it: every copy stays until it has it
                for holder in sorted(holding.holders - set(file_owners)):
                    if holder in targets:
                        work[holder].append(holding.path)
            await self._prune(work, counters, failures)
        await self._commit(phase, chunk.last, counters, failures)

    async def _commit(
        self, phase: int, last: str | None, counters: dict[str, int], failures: list[dict]
    ) -> None:
        for name, value in counters.items():
            self.record.counters[name] += value
        self.record.add_failures(failures)
        self.record.cursor = Cursor(root=phase, after=last)
        self.record.elapsed = self.elapsed()
        self.run_started = self.env.clock.now()
        await self.save()

    def _note_leftovers(self, chunk, owners, targets) -> None:
        if self._leftovers is None:
            return
        for holding, file_owners in zip(chunk, owners, strict=True):
            holders = holding.holders
            if any(h in targets and h not in file_owners for h in holders):
                version = (holding.size, holding.mtime, holding.etag)
                self._leftovers.append((holding.path, version, sorted(holders)))
        if len(self._leftovers) > MAX_LEFTOVERS:
            self._leftovers = None  # the prune phase walks again instead

    async def _prune_leftovers(self, leftovers: list[Leftover]) -> None:
        """The prune phase from the load phase's leftovers, a chunk at a time: each owner
        says which of its files it holds whole now, and copies of a file every owner
        holds whole are dropped from the targets that do not own it."""
        size = self._chunk_size()
        for start in range(0, len(leftovers), size):
            part = leftovers[start : start + size]
            ring, live = self.ring()
            targets = self._targets(live)
            replicas = self.record.options.get("replicas", 1)
            owners = ring.owners_batch([path for path, _, _ in part], replicas)
            asked: dict[str, list[tuple]] = defaultdict(list)
            for (path, version, _), file_owners in zip(part, owners, strict=True):
                for owner in file_owners:
                    asked[owner].append((path, *version))
            answers = await self._dispatch("held_whole", asked, CHUNK, None, note=False)
            lacking = {item[0] for item, whole in answers if whole is not True}
            work: dict[str, list[str]] = defaultdict(list)
            for (path, _, holders), file_owners in zip(part, owners, strict=True):
                if file_owners and path not in lacking:
                    for holder in holders:
                        if holder in targets and holder not in file_owners:
                            work[holder].append(path)
            counters = {name: 0 for name in self.record.counters}
            failures: list[dict[str, Any]] = []
            await self._prune(work, counters, failures)
            await self._commit(PRUNE, part[-1][0], counters, failures)

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
        for _, result in await self._dispatch("fetch_batch", work, batch, options):
            if result.status is FileOutcome.LOADED:
                counters["loadedFiles"] += 1
                counters["loadedBytes"] += result.bytes
                source = "loadedFromPeerBytes" if result.source == "peer" else "loadedFromUfsBytes"
                counters[source] += result.bytes
            elif result.status is FileOutcome.FAILED:
                counters["failedFiles"] += 1
                failures.append(_failure(result))

    async def _prune(self, work: dict[str, list[str]], counters, failures) -> None:
        options = {"jobId": self.record.id, "bandwidth": self.record.options.get("pruneBandwidth")}
        for _, result in await self._dispatch("prune_batch", work, CHUNK, options):
            if result.status is FileOutcome.FREED:
                counters["prunedFiles"] += 1
                counters["prunedBytes"] += result.bytes
            elif result.status is FileOutcome.FAILED:
                counters["failedFiles"] += 1
                failures.append(_failure(result))

    async def _dispatch(
        self,
        method: str,
        work: dict[str, list],
        batch_size: int,
        options: dict[str, Any] | None,
        *,
        note: bool = True,
    ) -> list[tuple[Any, Any]]:
        """Send each worker its items in batches; `(item, answer)` for every item. With
        `note`, the file index catches up on the workers that answered."""
        answered: set[str] = set()  # workers whose batches returned: their index is synced

        async def send(worker_id: str, items: list) -> list[Any]:
            async with self.dispatcher.slots[worker_id]:
                try:
                    args = (items,) if options is None else (items, options)
                    results = await self.peers.worker(worker_id).call(method, *args)
                    answered.add(worker_id)
                    return results
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # counted as failed copies, reported with the reason
                    message = f"{worker_id}: {type(exc).__name__}: {exc}"
                    return [
                        failure(
                            item[0] if isinstance(item, tuple) else item,
                            FailureReason.WORKER_FAILED,
                            message,
                        )
                        for item in items
                    ]

        batches = [
            (worker_id, items[start : start + batch_size])
            for worker_id, items in sorted(work.items())
            for start in range(0, len(items), batch_size)
        ]
        answers = await asyncio.gather(*(send(worker_id, items) for worker_id, items in batches))
        if note:  # once per chunk, not per batch: many workers' reports per index commit
            await self.dispatcher.note_results(sorted(answered))
        return [
            pair
            for (_, items), results in zip(batches, answers, strict=True)
            for pair in zip(items, results, strict=True)
        ]


def _failure(result: FileResult) -> dict[str, Any]:
    entry = {"path": result.path, "reason": result.reason, "message": result.message}
    return {k: v for k, v in entry.items() if v}
