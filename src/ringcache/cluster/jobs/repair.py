"""The repair pass of a load job whose ring changed while it ran.

A file loaded onto a worker that has since left, or whose owners moved because a worker
joined, is not on its current owners. After the listing, the job lists its roots once more
and sends exactly those files to their current owners (`RepairWork`: copies already there
are skipped, nothing is counted, as every file was counted once already).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..ring.policy import RingPolicy
from .dispatch import Dispatcher, Ring
from .model import JobRecord
from .source import FileSource
from .work import RepairWork

log = logging.getLogger(__name__)

ROUNDS = 3  # the ring may move again during a repair; a few rounds catch up with it


class Repair:
    """Brings a load job's files onto the owners of the current ring.

    Guarantees: `record.repair_rings` (the stale rings the load used) is cleared and the
    record saved when the pass ends; each file whose owners differ between a stale ring
    and the current one is sent to its current owners; a file that still fails is added
    to the record's failures, saying it failed in the repair.
    """

    def __init__(
        self,
        record: JobRecord,
        work: RepairWork,
        ring: Ring,
        new_dispatcher: Callable[[], Dispatcher],
        listing: Callable[[], Awaitable[FileSource]],
        save: Callable[[], Awaitable[None]],
    ) -> None:
        """`listing()` lists the job's files from the start; `save()` checkpoints the
        record; `new_dispatcher()` sends batches (one per round, so a round's rings are
        its own)."""
        self.record = record
        self.work = work
        self.ring = ring
        self.new_dispatcher = new_dispatcher
        self.listing = listing
        self.save = save

    async def run(self) -> None:
        record = self.record
        failures: list[dict[str, Any]] = []
        for _ in range(ROUNDS):
            current = self.ring()[0]
            stale = [current.with_workers(workers) for workers in record.repair_rings]
            dispatcher = self.new_dispatcher()
            dispatcher.note_ring(current)
            failures = await self._round(dispatcher, stale)
            now = frozenset(self.ring()[0].worker_ids)
            moved = [sorted(w) for w in dispatcher.rings_used if w != now]
            if not moved:
                break
            record.repair_rings = sorted(moved)
        if failures:
            record.add_failures(failures)
        record.repair_rings = []
        await self.save()

    async def _round(self, dispatcher: Dispatcher, stale: list[RingPolicy]) -> list[dict[str, Any]]:
        source = await self.listing()
        replicas = self.work.replicas
        failures = []
        try:
            while (page := await source.next_page()) is not None:
                paths = [f.path for f in page.files]
                current = self.ring()[0].owners_batch(paths, replicas)
                before = [ring.owners_batch(paths, replicas) for ring in stale]
                moved = [
                    status
                    for i, status in enumerate(page.files)
                    if any(set(owners[i]) != set(current[i]) for owners in before)
                ]
                if not moved:
                    continue
                async for answered in dispatcher.attempt(self.work, moved):
                    for status, outcome in answered:
                        if outcome.failed:
                            message = f"repair after a ring change failed: {outcome.message}"
                            entry = {
                                "path": status.path,
                                "reason": outcome.reason,
                                "message": message,
                            }
                            failures.append(entry)
        finally:
            source.close()
        log.info("job %s: repair round done, %d failures", self.record.id, len(failures))
        return failures
