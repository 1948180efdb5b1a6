"""The worker's page store: UFS files cached as fixed-size pages, under a byte capacity.

One implementation composed of three parts: the index and accounting of the cached files
(index.py), the eviction order (eviction.py), and the medium that holds the bytes
(medium.py: `DiskMedium` for real workers, `SizeMedium` for the simulator). `PageStore`
answers the calls; `CacheChanges` (changes.py) makes each change in the index and notes
it on the medium; `PageWrites` (writes.py) stores runs of pages. Everything
the store decides (what is held, what it costs, what goes when room is needed, what a
read may answer) is decided here, the same for both media.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from ..errors import InvalidArgument
from ..ufs.filesystem import FileVersion
from .changes import CacheChanges
from .disk import DiskMedium
from .eviction import EvictionOrder
from .index import CacheIndex, PathWatcher
from .medium import Lock, Medium, PageData
from .model import (
    PRIORITIES,
    CachedFile,
    CapacityExceeded,
    FileEntry,
    PageSpan,
    StoreStats,
    bit_indexes,
    check_priority,
)
from .writes import PageWrites, SourceChanged

__all__ = [
    "PRIORITIES",
    "CachedFile",
    "CapacityExceeded",
    "PageStore",
    "SourceChanged",
    "StoreStats",
]

log = logging.getLogger(__name__)


class PageStore:
    """Fixed-size pages of UFS files over a medium, under a byte capacity.

    `medium` is a `Medium`, or a directory for a `DiskMedium` there. `lock` serializes
    the calls (a `threading.RLock` unless given: `OneThread` for a store used by one
    thread only).

    Guarantees: the page bytes held never exceed `capacity_bytes`; a page is served only
    if it was written whole (listed only once its write returned) for the version recorded
    now; when room is needed, pages go LOW before MEDIUM before HIGH priority and least
    recently used first within a level (at the medium's grain), O(1) each; a file whose
    last page is evicted is forgotten (but the one being written). Reopening a disk
    medium recovers what it vouches for (recency then follows `cached_at`). Calls are
    serialized by an internal lock, held for bookkeeping only: page bytes and records are
    written outside it, and a call that changed what is recorded returns once the medium
    has settled its records (inside `journal_batch`, once the block exits). `now` always
    comes from the caller, whose clock owns time. Page bytes are never kept in memory.
    """

    def __init__(
        self,
        medium: Medium | Path | str,
        capacity_bytes: int,
        page_size: int = 1 << 20,
        *,
        lock: Lock | None = None,
    ) -> None:
        if capacity_bytes < 0 or page_size < 1:
            raise InvalidArgument(
                f"capacity_bytes ({capacity_bytes}) must be >= 0 and page_size ({page_size}) >= 1"
            )
        if isinstance(medium, (Path, str)):
            medium = DiskMedium(Path(medium))
        self.page_size = page_size
        self._medium: Medium = medium
        self._index = CacheIndex(capacity_bytes, page_size, EvictionOrder(medium.per_page_recency))
        self._lock: Lock = threading.RLock() if lock is None else lock
        self._changes = CacheChanges(self._index, medium, self._lock)
        self._writes = PageWrites(self._index, medium, self._changes, page_size)
        for entry in medium.open(page_size, self._index.files, self._lock):
            self._index.add(entry)
        with self._changes.changing():
            evicted = self._changes.make_room(0, keep=None)  # the capacity may have shrunk
        if evicted:
            log.info("page store %r: evicted %d pages at startup", medium, len(evicted))

    def __repr__(self) -> str:
        index = self._index
        return f"PageStore({self._medium!r}, used={index.used}, capacity={index.capacity_bytes})"

    @property
    def capacity_bytes(self) -> int:
        return self._index.capacity_bytes

    def guard_drops(self, guard: Callable[[], AbstractContextManager[object]]) -> None:
        """Enter `guard()` around each change that takes bytes away from cached pages (an
        eviction, a removal, a version superseded): before the index changes, exited once
        the change is settled on the medium. Changes that drop nothing never enter it."""
        with self._lock:
            self._changes.guard = guard

    def watch_paths(self, watcher: PathWatcher | None) -> None:
        """Tell `watcher` every path recorded now (`added`), then each path recorded or
        forgotten from now on, under the store's lock (None: stop telling)."""
        with self._lock:
            self._index.watcher = watcher
            if watcher is not None:
                for path in self._index.files:
                    watcher.added(path)

    # -- files ---------------------------------------------------------------------------

    def set_file(
        self, path: str, version: FileVersion, now: float, priority: str | None = None
    ) -> None:
        """Record the version `path` is cached at; a different version drops the old pages.

        `priority` (LOW/MEDIUM/HIGH) sets the eviction level; None keeps the current one
        (MEDIUM for a new file).
        """
        if priority is not None:
            check_priority(priority)
        with self._changes.changing():
            self._changes.record_file(path, version, now, priority)

    def set_priority(self, path: str, priority: str) -> None:
        """Move a cached file to another eviction level (its pages become most recent)."""
        check_priority(priority)
        with self._changes.changing():
            entry = self._changes.require(path)
            if priority != entry.priority:
                self._changes.move_priority(entry, priority)

    def file_info(self, path: str) -> CachedFile | None:
        files = self._index.files
        if path not in files:  # a miss needs no lock: one dict lookup is atomic
            return None
        with self._lock:
            entry = files.get(path)
            return None if entry is None else entry.describe()

    def remove_file(self, path: str) -> int:
        """Drop a file and all its pages; returns the bytes freed (0 if it was not cached)."""
        with self._changes.changing():
            entry = self._index.files.get(path)
            return 0 if entry is None else self._changes.forget(entry)

    def stats(self) -> StoreStats:
        with self._lock:
            index = self._index
            files = len(index.files)
            return StoreStats(index.capacity_bytes, index.used, files, index.pages, index.evicted)

    def journal_batch(self) -> AbstractContextManager[None]:
        """Changes this thread makes inside the block do not wait for their records to be
        written one by one; all of them are on the medium when the block exits."""
        return self._medium.batch()

    def close(self) -> None:
        """Release what the medium holds open (it reopens it if used again)."""
        self._medium.close()

    def discard(self) -> None:
        """Forget every record in memory at once, touching nothing on the medium (as when
        the disk under it is lost; a disk medium recovers its pages at the next open)."""
        with self._lock:
            self._index.clear()

    # -- pages ---------------------------------------------------------------------------

    def put_page(
        self,
        path: str,
        index: int,
        data: PageData,
        now: float,
        *,
        version: FileVersion | None = None,
    ) -> list[tuple[str, int]]:
        """Store one page of a recorded file; returns the `(path, index)` pages evicted.

        With `version`, the file is (re)recorded first as `set_file` would, which covers a
        file whose pages were all evicted while it was being loaded. Without it, NotFound
        if the file is not recorded. InvalidArgument if `data` is not exactly the page's
        size; CapacityExceeded if the page is larger than the capacity or the disk is full.
        """
        return self.put_pages(path, index, [data], now, version=version)

    def put_pages(
        self,
        path: str,
        first_index: int,
        pages: Sequence[PageData],
        now: float,
        *,
        version: FileVersion | None = None,
        priority: str | None = None,
        unchanged: Callable[[], bool] | None = None,
    ) -> list[tuple[str, int]]:
        """Store pages `first_index, first_index + 1, ...` of a file as `put_page` would,
        one after another, but taking the lock twice per run of pages that fit together
        rather than twice per page; returns the `(path, index)` pages evicted. A failure
        leaves the pages before the failing one stored. With `version`, the file is first
        recorded as `set_file(path, version, now, priority)` would (no separate call).
        With `unchanged`, for ranges of a file that may change while they are copied
        (another worker's data file on this host): each run of pages is listed only if
        `unchanged()` answers True once its bytes are written, else none of that run is
        and `SourceChanged` is raised (the runs before it stay stored).
        """
        if priority is not None and priority not in PRIORITIES:
            check_priority(priority)  # raises
        if type(first_index) is not int:  # bool is no page index either
            raise InvalidArgument(f"page index must be an integer, not {first_index!r}")
        evicted: list[tuple[str, int]] = []
        position = 0
        while position < len(pages):
            position = self._writes.put_run(
                path, first_index, pages, position, now, version, priority, evicted, unchanged
            )
        return evicted

    # -- reads ---------------------------------------------------------------------------

    def get_page(self, path: str, index: int, now: float) -> bytes | memoryview | None:
        """One whole page, or None if it is not cached; a hit makes it most recent."""
        with self._changes.changing():  # a page found missing on disk forgets the file
            entry = self._index.files.get(path)
            if entry is None or type(index) is not int or index < 0 or not entry.has(index):
                return None
            size = self.page_size
            return self._read(entry, index * size, entry.page_length(index, size), [index], now)

    def read(
        self, path: str, offset: int, length: int | None, now: float
    ) -> bytes | memoryview | None:
        """Bytes of a cached file, or None unless every page the range needs is cached.

        The range is clamped to the file size (`length=None` reads to the end), so a
        range past the end is `b""`. Every page read becomes most recent.
        """
        with self._changes.changing():  # a page found missing on disk forgets the file
            entry = self._index.files.get(path)
            if entry is None:
                return None
            start, end = _clamp(entry, offset, length)
            if start == end:
                entry.last_access = now
                return b""
            needed = range(start // self.page_size, (end - 1) // self.page_size + 1)
            run = ((1 << len(needed)) - 1) << needed.start
            if entry.held & run != run:
                return None
            return self._read(entry, start, end - start, needed, now)

    def span(
        self, path: str, offset: int, length: int | None, now: float | None
    ) -> PageSpan | None:
        """Where a cached range's bytes lie (the range clamped as by `read`), or None unless
        every page it needs is cached and the medium keeps them in a file; the pages become
        most recent, as read at `now` (None: only located, not read: nothing changes). Valid
        as `read`'s answer is: the bytes are the file's while its pages stay cached (a
        reader checks the worker's change epoch after sending)."""
        with self._lock:
            entry = self._index.files.get(path)
            if entry is None:
                return None
            start, end = _clamp(entry, offset, length)
            needed = range(start // self.page_size, (end - 1) // self.page_size + 1)
            if start < end:
                run = ((1 << len(needed)) - 1) << needed.start
                if entry.held & run != run:
                    return None
            else:
                needed = range(0)
            where = self._medium.locate(entry, start, end - start)
            if where is not None and now is not None:
                self._index.order.use(entry, needed)
                entry.last_access = now
            return where

    def missing_pages(self, path: str, offset: int = 0, length: int | None = None) -> list[int]:
        """Pages the range needs that are not cached; NotFound if the file is not recorded."""
        with self._lock:
            entry = self._changes.require(path)
            start, end = _clamp(entry, offset, length)
            if start == end:
                return []
            first, last = start // self.page_size, (end - 1) // self.page_size
            if not entry.held:  # a file being loaded: every page is missing
                return list(range(first, last + 1))
            return bit_indexes((((1 << (last - first + 1)) - 1) << first) & ~entry.held)

    def held(self, paths: Iterable[str]) -> list[tuple[FileVersion, int] | None]:
        """For each path, the version held and the bytes of it held; None if no byte is
        (an empty file is held once recorded). One lock for all: the index's reports."""
        files = self._index.files
        with self._lock:
            return [
                None
                if entry is None or not (entry.held or entry.version.size == 0)
                else (entry.version, entry.cached)
                for entry in map(files.get, paths)
            ]

    def lacking_whole(self, paths: Iterable[str]) -> list[str]:
        """The `paths` not cached whole, in the order given."""
        files = self._index.files
        with self._lock:
            # Whole: every page's bytes held (spelled out: a checker asks it of every file).
            return [
                path
                for path in paths
                if (entry := files.get(path)) is None or entry.cached != entry.version.size
            ]

    def paths(self) -> list[str]:
        """Every recorded path, sorted."""
        with self._lock:
            return sorted(self._index.files)

    def list_files(self, start_after: str | None = None, limit: int = 1000) -> list[CachedFile]:
        """Up to `limit` cached files with paths after `start_after`, sorted by path."""
        index = self._index
        with self._lock:
            entries = index.sorted.page(index.files, start_after, limit)
            return [entry.describe() for entry in entries]

    def list_held(
        self, start_after: str | None = None, limit: int = 1000
    ) -> list[tuple[str, FileVersion, int, bool]]:
        """`list_files` as `(path, version, cached bytes, complete)`, without the rest:
        listing a whole cache (a rebalance) builds no `CachedFile` per file."""
        index = self._index
        with self._lock:
            return [
                (e.path, e.version, e.cached, e.cached == e.version.size)
                for e in index.sorted.page(index.files, start_after, limit)
            ]

    # -- internals -----------------------------------------------------------------------

    def _read(
        self, entry: FileEntry, offset: int, length: int, pages: Iterable[int], now: float
    ) -> bytes | memoryview | None:
        try:
            data = self._medium.read(entry, offset, length)
        except FileNotFoundError:
            # Deleted behind our back: forget the file rather than fail every read.
            self._changes.forget(entry)
            return None
        self._index.order.use(entry, pages)
        entry.last_access = now
        return data


def _clamp(entry: FileEntry, offset: int, length: int | None) -> tuple[int, int]:
    if offset < 0 or (length is not None and length < 0):
        raise InvalidArgument(f"offset {offset} and length {length} must not be negative")
    start = min(offset, entry.version.size)
    end = entry.version.size if length is None else min(entry.version.size, start + length)
    return start, end
