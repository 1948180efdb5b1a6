"""The worker's page store: UFS files cached on local disk as fixed-size pages."""

from __future__ import annotations

import errno
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..errors import InvalidArgument, NotFound
from ..ufs.filesystem import FileVersion
from .eviction import PageEviction
from .layout import FileRange, Journal, PageLayout
from .model import (
    DEFAULT_PRIORITY,
    PRIORITIES,
    CachedFile,
    CapacityExceeded,
    FileEntry,
    SortedPaths,
    StoreStats,
    check_priority,
)
from .reads import PageReads
from .recovery import recover_entries

__all__ = ["PRIORITIES", "CachedFile", "CapacityExceeded", "PageStore", "StoreStats"]

log = logging.getLogger(__name__)


class PageStore(PageReads, PageEviction):
    """Fixed-size pages of UFS files on local disk, under a byte capacity.

    Guarantees: the page bytes held never exceed `capacity_bytes`; a page is served only
    if it was written whole (listed only once its write returned, and at startup only if
    its data file still holds all of it) for the version recorded now; when room is
    needed, pages go LOW before MEDIUM before HIGH priority and least recently used first
    within a level, O(1) each; reopening a store over the same root recovers every whole
    page whose record reached the journal (recency then follows `cached_at`), and frees
    the space of every other; a file whose last page is evicted is forgotten. Calls are
    serialized by an internal lock, held for bookkeeping only: page bytes and journal
    records are written outside it, and a call that changed what is recorded returns
    once its records are on disk (inside `journal_batch`, once the block exits). `now`
    always comes from the caller, whose clock owns time. Page bytes are never kept in
    memory.
    """

    def __init__(self, root: Path, capacity_bytes: int, page_size: int = 1 << 20) -> None:
        if capacity_bytes < 0 or page_size < 1:
            raise InvalidArgument(
                f"capacity_bytes ({capacity_bytes}) must be >= 0 and page_size ({page_size}) >= 1"
            )
        self.capacity_bytes = capacity_bytes
        self.page_size = page_size
        self._layout = PageLayout(Path(root))
        self._journal = Journal(str(Path(root) / "journal"))
        self._lock = threading.RLock()
        self._batching = threading.local()  # inside `journal_batch` on this thread
        # Pages evicted from files that keep others, to punch out of their data files:
        # (path, key, index, length, number of the journal record that drops them).
        self._evicted: list[tuple[str, str, int, int, int]] = []
        self._files: dict[str, FileEntry] = {}
        self._sorted = SortedPaths()
        # One recency order per priority level, oldest first; keys are (path, page index).
        self._lru: dict[str, OrderedDict[tuple[str, int], None]] = {
            level: OrderedDict() for level in PRIORITIES
        }
        self._used = 0
        self._pages = 0
        self._recover()

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
        with self._changing():
            self._record_file(path, version, now, priority)

    def set_priority(self, path: str, priority: str) -> None:
        """Move a cached file to another eviction level (its pages become most recent)."""
        check_priority(priority)
        with self._changing():
            entry = self._require(path)
            if priority != entry.priority:
                self._move_priority(entry, priority)

    def file_info(self, path: str) -> CachedFile | None:
        with self._lock:
            entry = self._files.get(path)
            return None if entry is None else entry.describe(self.page_size)

    def remove_file(self, path: str) -> int:
        """Drop a file and all its pages; returns the bytes freed (0 if it was not cached)."""
        with self._changing():
            entry = self._files.get(path)
            return 0 if entry is None else self._forget(entry)

    def stats(self) -> StoreStats:
        with self._lock:
            return StoreStats(self.capacity_bytes, self._used, len(self._files), self._pages)

    @contextmanager
    def journal_batch(self) -> Iterator[None]:
        """Changes this thread makes inside the block stage their journal records without
        waiting for each to be written; all of them are on disk when the block exits."""
        outer = getattr(self._batching, "active", False)
        self._batching.active = True
        try:
            yield
        finally:
            self._batching.active = outer
            if not outer:
                self._write_journal(self._journal.staged)
                self._punch_evicted()

    def close(self) -> None:
        """Release the journal's file descriptor (the store reopens it if used again)."""
        with self._journal.write_lock:
            self._journal.write_staged()
            self._journal.close()
        self._punch_evicted()

    # -- pages ---------------------------------------------------------------------------

    def put_page(
        self,
        path: str,
        index: int,
        data: bytes | memoryview | FileRange,
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
        pages: Sequence[bytes | memoryview | FileRange],
        now: float,
        *,
        version: FileVersion | None = None,
        priority: str | None = None,
    ) -> list[tuple[str, int]]:
        """Store pages `first_index, first_index + 1, ...` of a file as `put_page` would,
        one after another, but taking the lock twice per run of pages that fit together
        rather than twice per page; returns the `(path, index)` pages evicted. A failure
        leaves the pages before the failing one stored. With `version`, the file is first
        recorded as `set_file(path, version, now, priority)` would (no separate call).
        """
        if priority is not None:
            check_priority(priority)
        evicted: list[tuple[str, int]] = []
        position = 0
        while position < len(pages):
            position = self._put_run(
                path, first_index, pages, position, now, version, priority, evicted
            )
        return evicted

    # -- internals -----------------------------------------------------------------------

    def _changing(self) -> _Change:
        """The lock, for a call that may change records: they are on disk when it exits.

        Records are staged under the lock and written after it is released, so no thread
        waits for the lock while another writes the journal.
        """
        return _Change(self)

    def _after_change(self, before: int, upto: int) -> None:
        """Called by `_Change` once the lock is released."""
        if not getattr(self._batching, "active", False):
            if upto != before:
                self._write_journal(upto)
            if self._evicted:
                self._punch_evicted()

    def _write_journal(self, upto: int) -> None:
        """Return once record number `upto` and every one before it are on disk."""
        journal = self._journal
        if journal.written >= upto:
            return
        with journal.write_lock:
            if journal.written < upto:  # else a thread that came first wrote ours too
                journal.write_staged()
            # Compact once dead records dominate: amortized O(1) per change.
            if journal.lines > 2 * len(self._files) + 10_000:
                with self._lock:
                    records = [entry.record() for entry in self._files.values()]
                    journal.drop_staged()  # the records above already say what they said
                journal.rewrite(records)

    def _record_file(
        self, path: str, version: FileVersion, now: float, priority: str | None
    ) -> None:
        """`set_file` under the lock."""
        entry = self._files.get(path)
        if entry is not None and entry.version == version:
            if priority is not None and priority != entry.priority:
                self._move_priority(entry, priority)
            return
        if entry is not None:
            self._forget(entry, journal=False)  # the new record below supersedes it
        superseded = entry is not None
        entry = FileEntry(path, version, now, priority or DEFAULT_PRIORITY)
        self._files[path] = entry
        self._sorted.add(path)
        # A file is on record once it has pages (`_write_run`); an empty file has none.
        if superseded or version.size == 0:
            self._write_record(entry.record())

    def _put_run(
        self,
        path: str,
        first_index: int,
        pages: Sequence[bytes | memoryview | FileRange],
        position: int,
        now: float,
        version: FileVersion | None,
        priority: str | None,
        evicted: list[tuple[str, int]],
    ) -> int:
        """Store `pages[position:]`, or as many of them as fit in the store together;
        returns the position of the first page not handled."""
        reserved: list[tuple[int, int, bytes | memoryview | FileRange]] = []
        with self._changing():
            if version is not None:
                self._record_file(path, version, now, priority)
            entry = self._require(path)
            sizes = []
            for offset, data in enumerate(pages[position:]):
                index = first_index + position + offset
                size = entry.page_length(index, self.page_size)
                if len(data) != size:
                    raise InvalidArgument(
                        f"page {index} of {path} must be {size} bytes, not {len(data)}"
                    )
                sizes.append(size)
            entry.last_access = now
            lru = self._lru[entry.priority]
            for size, data in zip(sizes, pages[position:], strict=True):
                index = first_index + position
                if index in entry.pages:  # the pages of one version never change
                    lru.move_to_end((path, index))
                elif index not in entry.writing:  # else another thread writes these bytes
                    if not reserved and size > self.capacity_bytes:
                        raise CapacityExceeded(
                            f"page {index} of {path} ({size} bytes) does not fit in the page "
                            f"store ({self.capacity_bytes} bytes)",
                            path=path,
                        )
                    evicted += self._make_room(size, keep=entry)
                    if reserved and self._used + size > self.capacity_bytes:
                        break  # room for it may need the pages reserved above listed first
                    self._used += size  # reserved now, so concurrent writers cannot overfill
                    entry.writing.add(index)
                    reserved.append((index, size, data))
                position += 1
        # The disk writes happen outside the lock, so threads write pages in parallel.
        self._write_run(entry, reserved)
        return position

    def _write_run(
        self, entry: FileEntry, reserved: list[tuple[int, int, bytes | memoryview | FileRange]]
    ) -> None:
        """Write reserved pages, then list them (or release those not written)."""
        size = self.page_size
        pieces = [(index * size, data) for index, _, data in reserved]
        written, failure = self._layout.write_pages(entry.key, pieces) if pieces else (0, None)
        with self._changing():
            current = self._files.get(entry.path)
            lru = self._lru[entry.priority]
            stray: list[tuple[int, int]] = []
            for position, (index, length, _) in enumerate(reserved):
                entry.writing.discard(index)
                if position < written and current is entry:
                    entry.pages.add(index)
                    lru[(entry.path, index)] = None
                    self._pages += 1
                    continue
                self._used -= length
                if position < written and not (
                    current is not None
                    and current.key == entry.key
                    and (index in current.pages or index in current.writing)
                ):
                    # Removed or superseded while we wrote: the page belongs to nobody now
                    # (unless the file was recorded again at this version and has it).
                    stray.append((index * size, length))
            if stray and (current is None or current.key != entry.key):
                self._layout.remove(entry.key)  # no recorded file uses this data file
            elif stray:
                self._layout.punch(entry.key, stray)
            if written and current is entry:
                self._write_record(entry.record())
        if failure is not None:
            if failure.errno == errno.ENOSPC:
                raise CapacityExceeded(
                    f"disk full writing {entry.path}: {failure}", path=entry.path
                ) from None
            raise failure

    def _require(self, path: str) -> FileEntry:
        entry = self._files.get(path)
        if entry is None:
            raise NotFound(
                f"{path} is not recorded in the page store; call set_file first "
                "(its pages may have been evicted)"
            )
        return entry

    def _write_record(self, record: dict) -> None:
        """Stage a record under the lock; `_changing` writes it once the lock is released."""
        self._journal.stage(record)

    # -- recovery ------------------------------------------------------------------------

    def _recover(self) -> None:
        kept = recover_entries(self._layout, self._journal, self.page_size)
        for entry in kept:
            self._files[entry.path] = entry
            self._sorted.add(entry.path)
            lru = self._lru[entry.priority]
            for index in sorted(entry.pages):
                lru[(entry.path, index)] = None
                self._used += entry.page_length(index, self.page_size)
                self._pages += 1
        # Rewriting also drops a torn last line, so later appends start on a fresh line.
        self._journal.rewrite(entry.record() for entry in kept)
        self._layout.write_format(self.page_size)
        evicted = self._make_room(0, keep=None)  # the capacity may have shrunk
        self._journal.write_staged()  # the removals of those evictions
        self._punch_evicted()
        if evicted:
            log.info("page store %s: evicted %d pages at startup", self._layout.root, len(evicted))


class _Change:
    """`PageStore._changing`: a class rather than a generator, as it wraps every call."""

    __slots__ = ("store", "before")

    def __init__(self, store: PageStore) -> None:
        self.store = store
        self.before = 0

    def __enter__(self) -> None:
        store = self.store
        store._lock.acquire()
        self.before = store._journal.staged

    def __exit__(self, *exc_info: object) -> None:
        store = self.store
        upto = store._journal.staged
        store._lock.release()
        store._after_change(self.before, upto)
