"""The page store's evictions: room made least recently used first, LOW before HIGH, and
the disk space of evicted pages freed once their eviction is on record."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .model import PRIORITIES, FileEntry

if TYPE_CHECKING:
    from .store import PageStore


class PageEviction:
    """Eviction for `PageStore`, always called with its lock held (but `_punch_evicted`,
    which takes it)."""

    def _make_room(self: PageStore, needed: int, keep: FileEntry | None) -> list[tuple[str, int]]:
        if self._used + needed <= self.capacity_bytes:
            return []  # the common case, once per page stored
        evicted: list[tuple[str, int]] = []
        changed: dict[str, FileEntry] = {}
        dropped: list[tuple[str, str, int, int]] = []
        for level in PRIORITIES:
            lru = self._lru[level]
            while self._used + needed > self.capacity_bytes and lru:
                (path, index), _ = lru.popitem(last=False)
                entry = self._files[path]
                evicted.append((path, index))
                # The file being written stays recorded even if it loses all its pages.
                if len(entry.pages) == 1 and entry is not keep:
                    self._forget(entry)  # its data file goes whole
                    changed.pop(path, None)
                else:
                    entry.pages.discard(index)
                    length = entry.page_length(index, self.page_size)
                    self._used -= length
                    self._pages -= 1
                    dropped.append((path, entry.key, index, length))
                    changed[path] = entry
        for entry in changed.values():
            self._write_record(entry.record())
        # Their space is freed once these records are on disk (`_punch_evicted`).
        self._evicted.extend((*page, self._journal.staged) for page in dropped)
        return evicted

    def _forget(self: PageStore, entry: FileEntry, journal: bool = True) -> int:
        """Delete a file's pages and its record; returns the page bytes freed."""
        freed = entry.describe(self.page_size).cached_bytes
        lru = self._lru[entry.priority]
        for index in entry.pages:
            lru.pop((entry.path, index), None)
        self._layout.remove(entry.key)
        self._used -= freed
        self._pages -= len(entry.pages)
        entry.pages.clear()
        del self._files[entry.path]
        if journal:
            self._write_record({"path": entry.path, "removed": True})
        return freed

    def _move_priority(self: PageStore, entry: FileEntry, priority: str) -> None:
        old, new = self._lru[entry.priority], self._lru[priority]
        for index in sorted(entry.pages):
            old.pop((entry.path, index), None)
            new[(entry.path, index)] = None
        entry.priority = priority
        self._write_record(entry.record())

    def _punch_evicted(self: PageStore) -> None:
        """Free the disk space of evicted pages whose eviction is on record.

        Not before: a crash in between would leave a listed page reading as zeros where
        a page is not a whole number of file-system blocks (no hole shows it is gone).
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
                    if index in current.pages or index in current.writing:
                        continue
                by_key.setdefault(key, []).append((index * self.page_size, length))
            for key, ranges in by_key.items():
                self._layout.punch(key, ranges)
