"""The page store's disk medium: page bytes in sparse data files, a journal of what is held.

The layout and its guarantees are layout.py's; recovery at open is recovery.py's. This
class adds the timing: records are staged under the store's lock and written once it is
released (so no thread waits for the lock while another writes the journal), and the
disk space of an evicted page is punched out only once the record of its eviction is on
disk (a crash in between would otherwise leave a listed page reading as zeros).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from .layout import Journal, PageLayout
from .medium import Lock, PageData, Reserved
from .model import FileEntry, PageSpan
from .recovery import recover_entries

log = logging.getLogger(__name__)


class DiskMedium:
    """Page bytes on local disk under `root`.

    Guarantees: a page is read back only for the version it was written for; a record
    noted before `settle(before, upto)` returns is in the journal (inside `batch`, once the
    block exits); reopening the same root recovers every whole page whose record reached
    the journal, and frees the space of every other. There is no fsync: this is a cache.
    Recency is per page (see eviction.py).
    """

    per_page_recency = True
    journaled = True  # a journal
    instant = False  # page writes take time: other threads go on meanwhile

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._layout = PageLayout(self.root)
        self._journal = Journal(str(self.root / "journal"))
        self._batching = threading.local()  # inside `batch` on this thread
        # Pages evicted from files that keep others, to punch out of their data files:
        # (path, key, index, length, number of the journal record that drops them).
        self._evicted: list[tuple[str, str, int, int, int]] = []
        self._page_size = 1
        self._files: Mapping[str, FileEntry] = {}
        self._lock: Lock = threading.RLock()

    def __repr__(self) -> str:
        return f"DiskMedium({str(self.root)!r})"

    @property
    def staged(self) -> int:
        return self._journal.staged

    def open(self, page_size: int, files: Mapping[str, FileEntry], lock: Lock) -> list[FileEntry]:
        self._page_size, self._files, self._lock = page_size, files, lock
        kept = recover_entries(self._layout, self._journal, page_size)
        # Rewriting also drops a torn last line, so later appends start on a fresh line.
        self._journal.rewrite(entry.record() for entry in kept)
        self._layout.write_format(page_size)
        return kept

    # -- bytes -------------------------------------------------------------------------------

    def write(self, entry: FileEntry, pages: Reserved) -> tuple[int, OSError | None]:
        size = self._page_size
        return self._layout.write_pages(
            entry.key, [(index * size, data) for index, _, data in pages]
        )

    def write_run(
        self, entry: FileEntry, first: int, pages: Sequence[PageData], nbytes: int
    ) -> tuple[int, OSError | None]:
        size = self._page_size
        return self._layout.write_pages(
            entry.key, [(index * size, data) for index, data in enumerate(pages, first)]
        )

    def read(self, entry: FileEntry, offset: int, length: int) -> bytes:
        # A file's pages lie at their offsets in one data file: any range is one read.
        return self._layout.read(entry.key, offset, length)

    def locate(self, entry: FileEntry, offset: int, length: int) -> PageSpan:
        return PageSpan(self._layout.data_path(entry.key), offset, length)

    def remove(self, entry: FileEntry) -> None:
        self._layout.remove(entry.key)

    def punch(self, entry: FileEntry, ranges: list[tuple[int, int]]) -> None:
        self._layout.punch(entry.key, ranges)

    # -- records -----------------------------------------------------------------------------

    def note(self, entry: FileEntry) -> None:
        self._journal.stage(entry.record())

    def note_removed(self, path: str) -> None:
        self._journal.stage({"path": path, "removed": True})

    def evicted(self, entry: FileEntry, index: int, length: int) -> None:
        # The store notes the entry first: `_punch_evicted` waits for that record.
        self._evicted.append((entry.path, entry.key, index, length, self._journal.staged))

    def settle(self, before: int, upto: int) -> None:
        if not getattr(self._batching, "active", False):
            if upto != before:
                self._write_journal(upto)
            if self._evicted:
                self._punch_evicted()

    @contextmanager
    def batch(self) -> Iterator[None]:
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
        """Release the journal's file descriptor (it is reopened if used again)."""
        with self._journal.write_lock:
            self._journal.write_staged()
            self._journal.close()
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

    def _punch_evicted(self) -> None:
        """Free the disk space of evicted pages whose eviction is on record.

        A page of the same file version listed or being written again is left alone.
        """
        with self._lock:
            written, evicted = self._journal.written, self._evicted
            count = 0  # in the order evicted, so in the order of their records
            while count < len(evicted) and evicted[count][-1] <= written:
                count += 1
            if not count:
                return
            due, self._evicted = evicted[:count], evicted[count:]
            by_key: dict[str, list[tuple[int, int]]] = {}
            for path, key, index, length, _ in due:
                current = self._files.get(path)
                if current is not None and current.key == key:
                    if ((current.held | current.writing) >> index) & 1:
                        continue
                by_key.setdefault(key, []).append((index * self._page_size, length))
            for key, ranges in by_key.items():
                self._layout.punch(key, ranges)
