"""Sending a file job's work to the workers: plan on the current ring, batch, send, merge.

Each worker has a few batches in flight at most, from every attempt of the run; a batch
that cannot be sent (its worker left the ring, or the call failed) answers FAILED for each
of its files, with the reason, so the run retries them on the ring as it is then.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ..refs import Peers
from ..results import FailureReason, FileResult, all_failed
from ..ring.policy import RingPolicy
from ..ufs.filesystem import FileStatus
from .work import FileWork, Outcome, failed

log = logging.getLogger(__name__)

BATCHES_PER_WORKER = 2

Ring = Callable[[], tuple[RingPolicy, set[str]]]


class Dispatcher:
    """Sends one run's batches to the workers and merges their answers per file.

    Guarantees: every file of an attempt is answered exactly once (an unplanned file at
    once, the others when every worker asked about them has answered); no worker has more
    than BATCHES_PER_WORKER of this run's batches at a time; `rings_used` names every ring
    an attempt planned on, so a run can tell when its work was placed on a stale ring.
    """

    def __init__(
        self,
        peers: Peers,
        ring: Ring,
        batch_size: int,
        on_results: Callable[[list[str]], Awaitable[Any]] | None = None,
    ) -> None:
        """`on_results(worker_ids)` tells the file index which workers' batches of one
        attempt have answered (see `JobContext.on_results`); it does not wait for it."""
        self.peers = peers
        self.ring = ring
        self.batch_size = batch_size
        self.on_results = on_results
        self.rings_used: dict[frozenset[str], RingPolicy] = {}
        self.slots: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(BATCHES_PER_WORKER)
        )

    def note_ring(self, ring: RingPolicy) -> None:
        self.rings_used.setdefault(frozenset(ring.worker_ids), ring)

    async def note_results(self, worker_ids: list[str]) -> None:
        """Batches changed what these workers hold: note them for the file index."""
        if self.on_results is None or not worker_ids:
            return
        try:
            await self.on_results(worker_ids)
        except Exception:  # the index is derived state; a miss must not fail the job
            log.exception("file index update for %s failed", ", ".join(worker_ids))

    async def attempt(
        self, work: FileWork, files: list[FileStatus]
    ) -> AsyncIterator[list[tuple[FileStatus, Outcome]]]:
        """Plan the files on the current ring and send the batches; yield the files whose
        every asked worker has answered, with their merged outcomes, a batch at a time."""
        ring, live = self.ring()
        self.note_ring(ring)
        plan = work.plan(files, ring, live)
        expected = [0] * len(files)
        for assigned in plan.values():
            for i in assigned:
                expected[i] += 1
        unplanned = [
            (status, _unplanned(work)) for i, status in enumerate(files) if not expected[i]
        ]
        if unplanned:
            yield unplanned
        batch_size = self.batch_size
        sends = []
        answered: set[str] = set()  # workers whose batches returned: their index is synced
        for worker_id in sorted(plan):
            assigned = plan[worker_id]
            for start in range(0, len(assigned), batch_size):
                batch = assigned[start : start + batch_size]
                send = self._send(work, worker_id, [files[i] for i in batch], answered)
                sends.append(asyncio.ensure_future(_tagged(batch, send)))
        answers: dict[int, list[FileResult]] = defaultdict(list)
        merge = work.merge
        try:
            for next_batch in asyncio.as_completed(sends):
                batch, results = await next_batch
                done = []
                for i, result in zip(batch, results, strict=True):
                    if expected[i] == 1:  # the common case: one owner, one answer
                        done.append((files[i], merge([result])))
                        continue
                    answers[i].append(result)
                    if len(answers[i]) == expected[i]:
                        done.append((files[i], merge(answers.pop(i))))
                if done:
                    yield done
            # Once per worker, not per batch: noted for the index before the page commits.
            await self.note_results(sorted(answered))
        finally:
            for send in sends:
                send.cancel()

    async def _send(
        self, work: FileWork, worker_id: str, files: list[FileStatus], answered: set[str]
    ) -> list[FileResult]:
        async with self.slots[worker_id]:
            if worker_id not in self.ring()[1]:
                paths = [f.path for f in files]
                return all_failed(paths, FailureReason.MEMBERSHIP_CHANGED, f"{worker_id} left")
            try:
                ref = self.peers.worker(worker_id)
                answers = await ref.call(work.method, *work.arguments(files))
                answered.add(worker_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the whole batch is retried on the then-current ring
                message = f"{worker_id}: {type(exc).__name__}: {exc}"
                return all_failed([f.path for f in files], FailureReason.WORKER_FAILED, message)
        return answers


def _unplanned(work: FileWork) -> Outcome:
    if work.replicas:
        return failed(FailureReason.NO_WORKERS, "no live worker owns it")
    return work.merge([])


async def _tagged(
    batch: list[int], send: Awaitable[list[FileResult]]
) -> tuple[list[int], list[FileResult]]:
    return batch, await send
