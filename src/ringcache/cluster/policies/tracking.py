"""What a worker's page store changes, noted for the global file index and quota usage.

`GovernedStore` wraps the page store so that no code path (reads, loads, frees, evictions,
TTL, rebalance) can change what is cached without the path being noted; `ReportJournal`
hands the noted paths to the coordinator in acknowledged batches.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from ..ufs.filesystem import FileVersion


class GovernedStore:
    """The worker's page store as its policies see it; every other attribute is the store's.

    Guarantees: each call that can change what is cached of a path (`set_file`, `put_page`
    or `put_pages` and the pages they evict, `remove_file`) notes that path in the journal
    once the change is made, also when the call raises; a file newly recorded by `set_file`
    (or recorded at another version) gets the eviction level `priority_for` gives it,
    unless the caller names one. `dropping` (`ChangeEpoch.changing`) is entered around
    each change of the store that takes bytes away from cached pages, by the store
    (`PageStore.guard_drops`): a put that evicts nothing does not enter it.
    """

    def __init__(
        self,
        store: Any,
        journal: ReportJournal,
        priority_for: Callable[[str], str],
        dropping: Callable[[], AbstractContextManager[None]] = nullcontext,
    ) -> None:
        self.inner = store
        self.journal = journal
        self.priority_for = priority_for
        if dropping is not nullcontext:
            store.guard_drops(dropping)
        # The reads asked once or more per file, bound here rather than found each time
        # through `__getattr__`.
        self.file_info = store.file_info
        self.held = store.held
        self.read = store.read

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"GovernedStore({self.inner!r})"

    def set_file(
        self, path: str, version: FileVersion, now: float, priority: str | None = None
    ) -> None:
        if priority is None:
            current = self.inner.file_info(path)
            if current is None or current.version != version:
                priority = self.priority_for(path)
        try:
            self.inner.set_file(path, version, now, priority)
        finally:
            self.journal.note(path)

    def put_page(
        self,
        path: str,
        index: int,
        data: bytes,
        now: float,
        *,
        version: FileVersion | None = None,
    ) -> list[tuple[str, int]]:
        return self.put_pages(path, index, [data], now, version=version)

    def put_pages(
        self,
        path: str,
        first_index: int,
        pages: Sequence[Any],
        now: float,
        *,
        version: FileVersion | None = None,
        priority: str | None = None,
        unchanged: Callable[[], bool] | None = None,
    ) -> list[tuple[str, int]]:
        # Not through our `set_file`: callers record a file with its priority (before its
        # pages, or with them through `priority`), and a check per page would cost a lookup
        # per page. A file whose pages were all evicted while it loaded, recorded again
        # here without a priority, gets the default level. One note for the whole run.
        evicted: list[tuple[str, int]] = []
        try:
            evicted = self.inner.put_pages(
                path,
                first_index,
                pages,
                now,
                version=version,
                priority=priority,
                unchanged=unchanged,
            )
            return evicted
        finally:
            if evicted:
                self.journal.note_many([path, *(p for p, _ in evicted)])
            else:
                self.journal.note(path)

    def remove_file(self, path: str) -> int:
        try:
            return self.inner.remove_file(path)
        finally:
            self.journal.note(path)


@dataclass(frozen=True)
class ReportBatch:
    """Paths to report now; `full`: they start a report of everything the worker holds."""

    token: int
    paths: list[str]
    full: bool
    more: bool


class ReportJournal:
    """Paths whose cached bytes changed, handed out in batches the receiver acknowledges.

    Guarantees:
    - A noted path is in one of the next batches (the first, unless `limit` defers it),
      once: each path is noted after its change, and a report reads the state when it is
      made, so a change after a batch was taken is noted again and reported next time.
    - A batch is acknowledged by passing its token to the next `take`; one that was not
      (the receiver died, or the answer was lost) is handed out again, merged with newer
      notes. Reports carry the state at the time of the report, so repeats are harmless.
    - After `note_all`, batches are `full` until the first of them is acknowledged: the
      receiver replaces what it knew of this worker with that report.
    Thread-safe: pages are written on I/O threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._noted: dict[str, None] = {}  # an ordered set: reported in the order noted
        self._sent: list[str] = []
        self._sent_full = False
        self._full = False
        self._token = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._noted)

    @property
    def full_pending(self) -> bool:
        with self._lock:
            return self._full

    def note(self, path: str) -> None:
        with self._lock:
            self._noted[path] = None

    def note_many(self, paths: Iterable[str]) -> None:
        with self._lock:
            self._noted.update(dict.fromkeys(paths))

    def note_all(self, paths: Iterable[str]) -> None:
        """`paths` is everything held: the report that starts now replaces the old one."""
        with self._lock:
            self._noted.update(dict.fromkeys(paths))
            self._full = True

    def take(self, acked: int | None, limit: int) -> ReportBatch:
        """The next batch, at most `limit` paths; `acked` is the last token applied."""
        with self._lock:
            carried: list[str] = []
            if acked == self._token:
                if self._sent_full:
                    self._full = False
            else:
                carried = self._sent
            pending = list(dict.fromkeys([*carried, *self._noted]))
            paths, rest = pending[:limit], pending[limit:]
            self._noted = dict.fromkeys(rest)
            self._sent = paths
            self._sent_full = self._full
            self._token += 1
            return ReportBatch(self._token, paths, self._full, bool(rest))
