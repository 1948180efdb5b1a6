"""One run of a job: list -> plan -> dispatch -> collect -> checkpoint, as a flow of pages.

Pages are listed in order and worked on concurrently (a few at a time); each page retries
its failed files with backoff. Pages are committed strictly in listing order: the record's
counters and cursor only ever cover a finished prefix of the listing, so a run that dies at
any point resumes from the cursor and counts every file exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterator
from typing import Any

from ..ufs.mounts import MountTable
from .context import JobContext
from .dispatch import Dispatcher
from .model import Cursor, JobRecord, JobState
from .pages import PageLoader, PageWork
from .paging import LISTED_AHEAD, files_in_flight, page_shape, page_sizes
from .repair import Repair
from .source import LIST_CHUNK, FileSource, Page, index_lines, list_into
from .work import FileWork, RepairWork

log = logging.getLogger(__name__)


class JobRun:
    """Runs one job to a terminal state (or until cancelled by a stop)."""

    def __init__(
        self, record: JobRecord, context: JobContext, work: FileWork | None = None
    ) -> None:
        """`work` says how the job's files are planned, sent and counted (a rebalance
        run plans its own work and has none)."""
        self.record = record
        self.context = context
        self.store = context.store
        self.env = context.env
        self.peers = context.peers
        self.ring = context.ring
        self.mounts = context.mounts
        self.lost_files = context.lost_files
        self.work = work
        # Long enough for a dead worker to leave the ring.
        self.retry_window = 2 * context.lease_ttl + 5
        self.in_flight: deque[PageWork] = deque()
        self.unsaved_failed: list[dict[str, Any]] = []
        self.run_started = self.env.clock.now()
        self.dispatcher = self._dispatcher()
        self.loader = PageLoader(work, self.dispatcher, self.env.clock, self.retry_window)

    def _dispatcher(self) -> Dispatcher:
        batch_size = self.record.options.get("batchSize", 200)
        return Dispatcher(self.peers, self.ring, batch_size, self.context.on_results)

    # -- progress --------------------------------------------------------------------------

    def live_counters(self) -> dict[str, int]:
        counters = dict(self.record.counters)
        for work in self.in_flight:
            for name, value in work.counters.items():
                counters[name] += value
        return counters

    def live_failures(self) -> list[dict[str, str]]:
        pending = [f for work in self.in_flight for f in work.failed]
        return (self.record.failures + pending)[-1000:]

    def elapsed(self) -> float:
        return self.record.elapsed + max(0.0, self.env.clock.now() - self.run_started)

    # -- the flow --------------------------------------------------------------------------

    # What a run that counted failed files ends with; `{count}` is how many.
    failed_message = "{count} file(s) failed; resubmit the job to retry them"

    async def run(self) -> None:
        """RUNNING, the work, then the terminal state: FAILED if a file failed or the flow
        itself broke (the fault recorded, never lost), else SUCCEEDED."""
        await self._begin()
        try:
            await self._work()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a fault of the flow itself: recorded, never lost
            log.exception("%s job %s failed", self.record.type, self.record.id)
            await self.abandon()  # the pages still loading are not counted: stop them
            await self._finish(JobState.FAILED, {"message": f"{type(exc).__name__}: {exc}"})
            return
        count = self.record.counters["failedFiles"]
        if count:
            await self._finish(
                JobState.FAILED, {"message": self.failed_message.format(count=count)}
            )
        else:
            await self._finish(JobState.SUCCEEDED)

    async def _work(self) -> None:
        record = self.record
        await self._retry_failed()
        if not record.cursor.listed:
            await self._list_and_dispatch()
            await self._note_ring_changes()
        if record.repair_rings:
            repair = Repair(
                record,
                RepairWork(record.options),
                self.ring,
                self._dispatcher,
                self._relist,
                self.save,
            )
            await repair.run()

    async def _begin(self) -> None:
        """RUNNING, written before any work, with the first start time kept across resumes."""
        self.record.state = JobState.RUNNING
        self.record.start_time = self.record.start_time or self.run_started
        self.record.end_time = None
        await self.save()

    async def _finish(self, state: JobState, error: dict[str, Any] | None = None) -> None:
        self.record.state = state
        self.record.error_message = error
        self.record.elapsed = self.elapsed()
        self.record.end_time = self.env.clock.now()
        await self.save()

    async def save(self) -> None:
        # Failed files go with the record that counts them; kept until a save succeeds.
        await self.store.save(self.record, self.unsaved_failed)
        self.unsaved_failed = []

    async def stop(self) -> None:
        """Record STOPPED with what was committed; the caller has cancelled the run task."""
        await self.abandon()
        await self._finish(JobState.STOPPED)

    async def abandon(self) -> None:
        """Cancel the pages in flight; their work is uncommitted and will be redone."""
        for work in self.in_flight:
            work.task.cancel()
        await asyncio.gather(*(w.task for w in self.in_flight), return_exceptions=True)
        self.in_flight.clear()

    async def _retry_failed(self) -> None:
        """A resumed job first retries the files that failed before, as one page.

        They are listed afresh (a path that was missing may now be a file or a directory),
        and their first count is undone when this page commits.
        """
        record = self.record
        retried = [f async for f in self.store.failed_files(record.id, record.failed_generation)]
        if not retried:
            return
        counters = {name: 0 for name in record.counters}
        counters["failedFiles"] = counters["scannedFiles"] = -len(retried)
        if "totalBytes" in counters:
            counters["totalBytes"] = -sum(f.get("size", 0) for f in retried)
        table = await self.mounts()
        paths = iter([f["path"] for f in retried])
        source = FileSource(paths, table, self.env.ufs_factory, Cursor(), self.env.run_io)
        files, failures = [], []
        while (page := await source.next_page()) is not None:
            files += page.files
            failures += page.failures
        page = Page(files, record.cursor, failures)
        work = PageWork(page, counters, generation=record.failed_generation + 1)
        self._start(work)
        await asyncio.wait({work.task})
        await self._commit_ready()
        await self.store.drop_failed(record.id, record.failed_generation)

    async def _list_and_dispatch(self) -> None:
        """List in the background while the pages already listed load.

        The lister stays LISTED_AHEAD pages ahead; a listed page starts as soon as the
        pages still loading hold fewer than `files_in_flight` files between them (and fewer
        than PAGES_IN_FLIGHT pages are uncommitted), so the next pages' batches queue at
        every worker while the last one's tail finishes. A page that has loaded holds no
        files: pages that finish out of order (one in retry backoff, say) hold back no
        others. Pages are committed in listing order as they finish, listing or not.
        """
        table = await self.mounts()
        batch_size = self.record.options.get("batchSize", 200)
        workers = len(self.ring()[1])
        page_size, pages_in_flight = page_shape(batch_size, workers, self.work.replicas)
        bound = files_in_flight(workers)
        source = FileSource(
            self.roots(table),
            table,
            self.env.ufs_factory,
            self.record.cursor,
            self.env.run_io,
            page_size=page_size,
            file_filter=self.record.options.get("fileFilterRegex"),
        )
        listed: asyncio.Queue[Page | BaseException | None] = asyncio.Queue(LISTED_AHEAD)
        listed_at_once = source.concurrency * LIST_CHUNK
        sizes = page_sizes(batch_size, workers, self.work.replicas, page_size, listed_at_once)
        lister = asyncio.get_running_loop().create_task(list_into(listed, source, sizes))
        try:
            while True:
                await self._admit(page_size, pages_in_flight, bound)  # before taking it: memory
                page = await self._next_listed(listed)
                if page is None:
                    break
                if isinstance(page, BaseException):
                    raise page
                self._start(PageWork(page, {name: 0 for name in self.record.counters}))
            while self.in_flight:
                await asyncio.wait({self.in_flight[0].task})
                await self._commit_ready(last=True)
        finally:
            lister.cancel()
            await asyncio.gather(lister, return_exceptions=True)
            source.close()

    async def _next_listed(self, listed: asyncio.Queue) -> Page | BaseException | None:
        """The next listed page; pages that finish meanwhile are committed."""
        getter = asyncio.ensure_future(listed.get())
        try:
            while not getter.done():
                loading = {w.task for w in self.in_flight if not w.task.done()}
                await asyncio.wait({getter, *loading}, return_when=asyncio.FIRST_COMPLETED)
                await self._commit_ready()
        finally:
            getter.cancel()
        return getter.result()

    def _start(self, work: PageWork) -> None:
        self.in_flight.append(work)
        work.task = asyncio.get_running_loop().create_task(self.loader.load(work))

    async def _admit(self, files: int, pages: int, bound: int) -> None:
        """Wait until a page of up to `files` may start: fewer than `pages` pages in flight
        and the files of those still loading within `bound` (one page always may)."""
        while self.in_flight:
            loading = {w.task for w in self.in_flight if not w.task.done()}
            held = sum(w.size for w in self.in_flight if w.task in loading)
            if len(self.in_flight) < pages and held + files <= bound:
                return
            if loading:
                await asyncio.wait(loading, return_when=asyncio.FIRST_COMPLETED)
            await self._commit_ready()

    async def _note_ring_changes(self) -> None:
        """Remember (durably) the rings this run used that are no longer current."""
        if not self.work.replicas:
            return  # a free job asks every live worker; the ring does not place its work
        current = frozenset(self.ring()[0].worker_ids)
        stale = [sorted(workers) for workers in self.dispatcher.rings_used if workers != current]
        if stale:
            self.record.repair_rings = sorted(stale)
            await self.save()

    async def _relist(self) -> FileSource:
        """The job's files from the start (for a repair pass), filtered as the job is."""
        table = await self.mounts()
        file_filter = self.record.options.get("fileFilterRegex")
        return FileSource(
            self.roots(table),
            table,
            self.env.ufs_factory,
            Cursor(),
            self.env.run_io,
            file_filter=file_filter,
        )

    def roots(self, table: MountTable) -> Iterator[str]:
        if self.record.index is None:
            return iter(self.record.paths or [])
        mount, uri = table.resolve(self.record.index)
        return index_lines(self.env.ufs_factory(mount.ufs, mount.options), uri)

    async def _commit_ready(self, last: bool = False) -> None:
        """Fold finished pages at the front into the record and checkpoint it, once.

        With `last` (the listing is over), folding the final page writes nothing: the
        next save writes it (the terminal state's, or a repair's); a run that dies first
        resumes before that page and redoes it, as it would any page not yet checkpointed.
        """
        folded = False
        while self.in_flight and self.in_flight[0].task.done():
            self._fold(self.in_flight.popleft())  # a page's fault: the run records it
            folded = True
        if folded and not (last and not self.in_flight):
            await self.save()

    def _fold(self, work: PageWork) -> None:
        if not work.task.cancelled() and work.task.exception():
            raise work.task.exception()
        if work.generation is not None:
            self.record.failed_generation = work.generation
            self.record.failures = []
        else:
            self.record.cursor = Cursor(**vars(work.page.cursor))
        for name, value in work.counters.items():
            self.record.counters[name] += value
        self.record.add_failures(work.failed)
        self.unsaved_failed.extend(work.failed)
        self.record.elapsed = self.elapsed()
        self.run_started = self.env.clock.now()
