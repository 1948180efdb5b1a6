"""The page store's index and accounting: which files are cached, which pages each holds,
and what they cost against the capacity."""

from __future__ import annotations

from typing import Protocol

from .eviction import EvictionOrder
from .model import PRIORITIES, FileEntry, SortedPaths, bits


class PathWatcher(Protocol):
    """Told each path the index starts or stops holding an entry of (a file recorded, with
    pages or none yet), under the store's lock; `cleared` when it forgets all at once."""

    def added(self, path: str) -> None: ...

    def released(self, path: str) -> None: ...

    def cleared(self) -> None: ...


class CacheIndex:
    """The entries of the cached files, their paths in sorted order, and the page bytes
    held or reserved (`used`) and pages held (`pages`) against `capacity_bytes`, and the
    pages evicted to make room since it was made (`evicted`).

    Guarantees: `used` and `pages` are the sums over the entries (`used` also counts the
    pages reserved for writing), and each entry's `cached` the bytes of the pages it
    holds; every page held is in `order`, and no page is held twice.
    Touches no storage: the store does what a change means for the medium. Called under
    the store's lock.
    """

    __slots__ = (
        "capacity_bytes",
        "page_size",
        "order",
        "files",
        "sorted",
        "used",
        "pages",
        "evicted",
        "watcher",
    )

    def __init__(self, capacity_bytes: int, page_size: int, order: EvictionOrder) -> None:
        self.capacity_bytes = capacity_bytes
        self.page_size = page_size
        self.order = order
        self.files: dict[str, FileEntry] = {}
        self.sorted = SortedPaths()
        self.used = 0
        self.pages = 0
        self.evicted = 0
        self.watcher: PathWatcher | None = None

    def add(self, entry: FileEntry) -> None:
        """Index a new entry, with the pages it holds already (at recovery) or none."""
        if entry.path not in self.files:
            self.sorted.add(entry.path)
            if self.watcher is not None:
                self.watcher.added(entry.path)
        self.files[entry.path] = entry
        if entry.held:
            entry.cached = entry.held_bytes(self.page_size)
            indexes = entry.indexes()
            self.order.use(entry, indexes)
            self.used += entry.cached
            self.pages += len(indexes)

    def hold(self, entry: FileEntry, indexes: range | list[int], nbytes: int) -> None:
        """Pages reserved before (their `nbytes` counted in `used`) are held now."""
        count = len(indexes)
        if type(indexes) is range:  # a run: its mask at once
            run = ((1 << count) - 1) << indexes[0]
        else:
            run = bits(indexes)
        entry.writing &= ~run
        entry.held |= run
        cached = entry.cached + nbytes
        size = entry.version.size
        # Whole: the size's own int, so a million whole files keep no int each for it.
        entry.cached = size if cached == size else cached
        self.pages += count
        self.order.use(entry, indexes)

    def release(self, entry: FileEntry) -> int:
        """Drop `entry` and its pages; returns the page bytes it held."""
        freed = entry.cached
        self.order.forget(entry)
        self.used -= freed
        self.pages -= entry.held.bit_count()
        entry.held = entry.cached = 0
        del self.files[entry.path]
        self.sorted.discard(entry.path)
        if self.watcher is not None:
            self.watcher.released(entry.path)
        return freed

    def move(self, entry: FileEntry, priority: str) -> None:
        self.order.move(entry, priority)

    def evict(
        self, needed: int, keep: FileEntry | None
    ) -> tuple[
        list[tuple[str, int]], list[FileEntry], list[FileEntry], list[tuple[FileEntry, int, int]]
    ]:
        """Drop pages, LOW before HIGH and least recent first, until `needed` more bytes
        fit. Returns the `(path, index)` pages evicted, the entries dropped whole (their
        last page went; `keep`, the file being written, stays recorded even then), the
        entries that keep other pages, and those pages as `(entry, index, length)`."""
        evicted: list[tuple[str, int]] = []
        forgotten: list[FileEntry] = []
        changed: dict[str, FileEntry] = {}
        dropped: list[tuple[FileEntry, int, int]] = []
        order, files, size = self.order, self.files, self.page_size
        for level in PRIORITIES:
            while self.used + needed > self.capacity_bytes:
                victim = order.oldest(level)
                if victim is None:
                    break
                path, index = victim
                entry = files[path]
                if index is None:
                    held = entry.held
                    index = (held & -held).bit_length() - 1  # the lowest page held
                evicted.append((path, index))
                if entry.held.bit_count() == 1 and entry is not keep:
                    self.release(entry)
                    forgotten.append(entry)
                    changed.pop(path, None)
                    continue
                entry.held &= ~(1 << index)
                order.drop(entry, index)
                length = entry.page_length(index, size)
                entry.cached -= length
                self.used -= length
                self.pages -= 1
                dropped.append((entry, index, length))
                changed[path] = entry
        self.evicted += len(evicted)
        return evicted, forgotten, list(changed.values()), dropped

    def clear(self) -> None:
        """Forget every entry at once."""
        self.files.clear()  # in place: the medium may read the same mapping
        self.sorted = SortedPaths()
        self.order.clear()
        self.used = self.pages = 0
        if self.watcher is not None:
            self.watcher.cleared()
