"""Pages a read fetched from the UFS on a miss: one fetch shared by the readers that miss
the same pages at once, and stored in the page store after the read has answered."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from ..clock import Clock
from ..environment import RunIo
from ..ufs.filesystem import FileVersion

log = logging.getLogger(__name__)

BACKLOG_BYTES = 256 * 1024**2  # bytes fetched but not yet stored; past it a read stores them
WAIT_SECONDS = 300.0  # longest wait for another reader's fetch before fetching ourselves
# A fill waits for a pause of this long in the reads answered (the copy into the store
# competes with them for the cores), but no longer than YIELD_SECONDS.
QUIET_SECONDS = 0.005
YIELD_SECONDS = 0.1
# Fills queued one after another run together, in one call on an I/O thread, up to this
# many and this many bytes: a small file's copy costs less than handing it to a thread.
BATCH_FILLS = 32
BATCH_BYTES = 4 * 1024**2

Page = bytes | memoryview


@dataclass(frozen=True)
class Fill:
    """What is left to store of a miss: `run` (blocking) stores `size` bytes; `drop`
    lets go of them instead, if the fill is dropped without running. `in_memory`: the
    bytes wait in memory (read through); a local file's copy by the kernel holds none.
    `pages`: the first and the last page index it stores (None: it may store any)."""

    run: Callable[[], None]
    size: int
    drop: Callable[[], object] = lambda: None
    in_memory: bool = True
    pages: tuple[int, int] | None = None

    def stores_any(self, first: int, last: int | None) -> bool:
        """Whether it may store a page of `first` to `last` (None: to the file's end)."""
        if self.pages is None:
            return True
        low, high = self.pages
        return high >= first and (last is None or low <= last)

    @property
    def held(self) -> int:
        """The bytes it holds in memory until it runs: what counts against the backlog."""
        return self.size if self.in_memory else 0


class SharedFetches:
    """Which pages of which file some reader is fetching from the UFS, or has fetched and
    not yet stored: a reader that misses them too waits for those bytes instead of reading
    the UFS again. Thread-safe (reads run on several I/O threads).

    Guarantees: each page is claimed by one reader at a time; a claimed page is settled
    (its bytes) or failed (then forgotten, so the next reader fetches it) by its claimant,
    and forgotten once stored; a page of another version is never shared.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pages: dict[tuple[str, int], tuple[FileVersion, Future[Page]]] = {}

    def claim(
        self, uri: str, version: FileVersion, indexes: Sequence[int]
    ) -> tuple[list[int], dict[int, Future[Page]]]:
        """The pages of `indexes` now this caller's to fetch, and the others' futures."""
        mine: list[int] = []
        theirs: dict[int, Future[Page]] = {}
        with self._lock:
            for index in indexes:
                found = self._pages.get((uri, index))
                if found is not None and found[0] == version:
                    theirs[index] = found[1]
                else:
                    self._pages[(uri, index)] = (version, Future())
                    mine.append(index)
        return mine, theirs

    def settle(self, uri: str, start: int, pages: Sequence[Page]) -> None:
        """Pages `start, start + 1, ...` fetched: their waiting readers get the bytes."""
        with self._lock:
            futures = [self._pages[(uri, start + i)][1] for i in range(len(pages))]
        for future, page in zip(futures, pages, strict=True):
            future.set_result(page)

    def fail(self, uri: str, indexes: Sequence[int], error: BaseException) -> None:
        """Claimed pages that could not be fetched: their waiters get `error`."""
        for future in self.forget(uri, indexes):
            if not future.done():
                future.set_exception(error)

    def forget(self, uri: str, indexes: Sequence[int]) -> list[Future[Page]]:
        """Stop sharing pages (stored, or not to be kept); their futures."""
        with self._lock:
            found = [self._pages.pop((uri, index), None) for index in indexes]
        return [entry[1] for entry in found if entry is not None]

    def __len__(self) -> int:
        return len(self._pages)


class DeferredFills:
    """Stores fetched pages after the read that fetched them answered, one fill at a time
    on an I/O thread (so the other I/O threads stay free for reads); fills queued together
    run in one call there, one after another (up to BATCH_FILLS and BATCH_BYTES).

    Guarantees: at most `backlog_bytes` held in memory wait to be stored at once (a read
    that would pass it stores its pages itself, before answering; a local file's copy
    holds none, see `Fill.held`); a failed store is logged, never raised to a reader (the
    bytes were served); `wait(key, first, last)` waits for the fills of one file that may
    store one of those pages (so a reader right behind a miss finds its pages stored, and
    one of the file's other pages waits for none), `settled` for every fill queued;
    fills dropped because the event loop is stopping give their backlog back. With a
    `clock`, reads come first: a fill starts once no read was answered (`note_read`) for
    QUIET_SECONDS, or YIELD_SECONDS after it was queued, or at once while the backlog is
    more than half full or someone waits for fills (`wait`, `settled`).
    """

    def __init__(
        self, run_io: RunIo, backlog_bytes: int = BACKLOG_BYTES, clock: Clock | None = None
    ) -> None:
        self.run_io = run_io
        self.backlog_bytes = backlog_bytes
        self.clock = clock
        self.waiting = 0  # bytes held in memory by fills not yet done (`Fill.held`)
        self._lock = threading.Lock()
        # Each fill: its file, itself, done once run or dropped, when it was queued.
        self._queue: deque[tuple[str, Fill, asyncio.Future[None], float]] = deque()
        # The queue's fills, by file, in order: each one's future and the fill.
        self._of_file: dict[str, list[tuple[asyncio.Future[None], Fill]]] = {}
        self._drain: asyncio.Task | None = None
        self._read_at = float("-inf")  # when a read was last answered
        self._hurry = asyncio.Event()  # set while someone waits for fills
        self._waited: set[asyncio.Future[None]] = set()  # the fills someone waits for
        self.on_stored: Callable[[str], None] | None = None  # told each file's last fill done

    def note_read(self) -> None:
        """A read is being answered: fills wait for a pause in them."""
        if self.clock is not None:
            self._read_at = self.clock.now()

    def reserve(self, size: int) -> bool:
        """Room for `size` more bytes in the backlog: reserved (True), or none (False)."""
        with self._lock:
            if size and self.waiting and self.waiting + size > self.backlog_bytes:
                return False
            self.waiting += size
            return True

    def start(self, key: str, fill: Fill) -> None:
        """Queue `fill` (of the file `key`, `fill.held` reserved); it runs after those before."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._queue.append((key, fill, done, 0.0 if self.clock is None else self.clock.now()))
        self._of_file.setdefault(key, []).append((done, fill))
        if self._drain is None or self._drain.done():
            self._drain = loop.create_task(self._run())

    async def _run(self) -> None:
        try:
            while self._queue:
                await self._yield_to_reads(self._queue[0][3])
                batch = self._batch()
                await self.run_io(_run_each, batch)
                for _ in batch:
                    self._finish()
        finally:  # stopping: what was not stored is dropped, its backlog given back
            while self._queue:
                self._queue[0][1].drop()
                self._finish()

    def _batch(self) -> list[Fill]:
        """The fills at the head of the queue to run now: the first, and those after it
        up to BATCH_FILLS and BATCH_BYTES, unless someone waits (then the first alone, so
        the fills nobody waits for go on yielding to reads)."""
        first = self._queue[0][1]
        batch, size = [first], first.size
        if self._is_waited():
            return batch
        for _, fill, _, _ in itertools.islice(self._queue, 1, BATCH_FILLS):
            size += fill.size
            if size > BATCH_BYTES:
                break
            batch.append(fill)
        return batch

    def _finish(self) -> None:
        """The fill at the head of the queue is done (run or dropped)."""
        key, fill, done, _ = self._queue.popleft()
        of_file = self._of_file[key]
        del of_file[0]  # the file's first: fills run in order
        if not of_file:
            del self._of_file[key]
        with self._lock:
            self.waiting -= fill.held
        if not done.done():
            done.set_result(None)
        if not self._is_waited():
            self._hurry.clear()  # the fills waited for are done: the others yield again
        if not of_file and self.on_stored is not None:
            try:
                self.on_stored(key)
            except Exception:  # told of it or not, the pages are stored
                log.exception("telling that %s was stored failed", key)

    async def _yield_to_reads(self, queued_at: float) -> None:
        """Wait while reads keep being answered (see the class's guarantees)."""
        clock = self.clock
        if clock is None:
            return
        give_up = queued_at + YIELD_SECONDS  # since queued: under steady reads, fills lag so much
        hurry = self._hurry
        while not self._is_waited() and 2 * self.waiting <= self.backlog_bytes:
            now = clock.now()
            until = min(self._read_at + QUIET_SECONDS, give_up)
            if now >= until:
                return
            pause = asyncio.ensure_future(clock.sleep(until - now))
            hurried = asyncio.ensure_future(hurry.wait())
            try:
                await asyncio.wait([pause, hurried], return_when=asyncio.FIRST_COMPLETED)
            finally:
                pause.cancel()
                hurried.cancel()

    async def wait(self, key: str, first: int = 0, last: int | None = None) -> None:
        """Wait for the fills of the file `key` queued so far that may store a page of
        `first` to `last` (None: to the end), if any; the file's others keep yielding."""
        pending = [
            done for done, fill in self._of_file.get(key, ()) if fill.stores_any(first, last)
        ]
        if pending:
            await self._hurried(pending)

    async def settled(self) -> None:
        """Wait until every fill queued so far is done."""
        if self._queue:
            await self._hurried([done for _, _, done, _ in self._queue])

    async def _hurried(self, pending: list[asyncio.Future[None]]) -> None:
        """Wait for `pending`, no fill yielding to reads meanwhile."""
        self._waited.update(pending)
        self._hurry.set()
        try:
            await asyncio.gather(*pending)
        finally:
            self._waited.difference_update(pending)
            if not self._waited:
                self._hurry.clear()

    def _is_waited(self) -> bool:
        """Whether a fill not yet done is waited for."""
        return any(not done.done() for done in self._waited)


def _run_each(fills: list[Fill]) -> None:
    """Run the fills in turn; one that fails is logged and the others still run."""
    for fill in fills:
        try:
            fill.run()
        except Exception:
            log.exception("storing pages read through failed; they were served")
