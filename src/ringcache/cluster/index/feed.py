"""`IndexFeed`: the file index brought up to date with the workers in the background.

A job's batches change what workers hold; the coordinator's file index learns it from the
workers' reports. Applying them is one writer's work (one row per file), slower than a
large load moves files, so a job only notes which workers answered and goes on: the feed
syncs them behind it, one sync at a time, each taking every worker noted since the last
one (many workers' reports per index transaction).

Freshness: the index lags the workers by the syncs still queued here (and, for changes no
job noted, such as reads and evictions, by the enforcer's periodic sync). Readers that
must see every change a job made before they asked (`/api/v1/file_index`, quota usage,
the files of departed workers) wait for `caught_up()` first: they answer as of the call,
at the cost of waiting for that backlog, while no job ever waits on the index.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)


class IndexFeed:
    """Syncs noted workers into the file index in the background, in order.

    Guarantees: `note` never waits on the index; every worker noted is synced by a sync
    that starts after it was noted; `caught_up()` returns once every worker noted before
    the call has been synced (a worker whose sync failed is logged by `sync`, and its
    report is sent again at its next sync), or once the feed is stopped.
    """

    def __init__(self, sync: Callable[[list[str]], Awaitable[Any]]) -> None:
        """`sync(worker_ids)` applies those workers' reports to the index."""
        self._sync = sync
        self._pending: set[str] = set()
        self._noted = 0  # notes so far
        self._synced = 0  # notes whose workers have all been synced
        self._progress = asyncio.Condition()
        self._task: asyncio.Task | None = None
        self._stopped = False

    @property
    def backlog(self) -> int:
        """Workers noted and not yet taken by a sync."""
        return len(self._pending)

    async def note(self, worker_ids: Iterable[str]) -> None:
        """These workers' holdings changed: sync them soon. Returns at once."""
        ids = set(worker_ids)
        if not ids or self._stopped:
            return
        self._pending |= ids
        self._noted += 1
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def caught_up(self) -> None:
        """Wait until every worker noted before this call has been synced."""
        target = self._noted
        async with self._progress:
            await self._progress.wait_for(lambda: self._synced >= target or self._stopped)

    async def stop(self) -> None:
        """Stop syncing (what is pending is synced by the next coordinator's first pass)."""
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        async with self._progress:
            self._progress.notify_all()

    async def _run(self) -> None:
        while self._pending and not self._stopped:
            workers, self._pending = sorted(self._pending), set()
            upto = self._noted
            try:
                await self._sync(workers)
            except asyncio.CancelledError:
                raise
            except Exception:  # derived state: the next sync of these workers catches up
                log.exception("file index sync of %d worker(s) failed", len(workers))
            self._synced = upto
            async with self._progress:
                self._progress.notify_all()
