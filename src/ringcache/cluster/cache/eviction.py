"""The page store's eviction order: LOW before MEDIUM before HIGH, least recently used first.

Recency is kept at the grain the medium asks for, by the same code:

- per page (`per_page=True`, the disk): one `OrderedDict` key `(path, index)` per page held,
  so a read of one page of a large file makes only that page recent;
- per file (`per_page=False`, the simulator's sizes): one key `path` per file holding a
  page; a hit makes the whole file most recent, and the least recent file gives up its
  lowest page first (the order a load wrote them in). An `OrderedDict` entry costs about
  150 bytes: at a million simulated files of several pages each, one per page would cost
  more memory than the rest of the simulation. Where every page of a file is used
  together (loads, whole-file reads) the two grains evict in the same order.
"""

from __future__ import annotations

from collections import OrderedDict

from .model import PRIORITIES, FileEntry

#: A victim: the path, and the page index (None: the file's lowest page held).
Victim = tuple[str, int | None]


class EvictionOrder:
    """Which held page goes next: guarantees that every LOW page goes before any MEDIUM
    page and every MEDIUM before any HIGH, and, within a level, the least recently used
    (at the grain chosen) first; each step O(1). Entries must be told of every page they
    hold or drop, under their store's lock."""

    __slots__ = ("per_page", "_levels")

    def __init__(self, per_page: bool) -> None:
        self.per_page = per_page
        self._levels: dict[str, OrderedDict[object, None]] = {
            level: OrderedDict() for level in PRIORITIES
        }

    def use(self, entry: FileEntry, indexes: range | list[int]) -> None:
        """Pages of `entry` held now (new or hit): they become most recent."""
        lru = self._levels[entry.priority]
        if not self.per_page:
            key = entry.path
            if key in lru:
                lru.move_to_end(key)
            else:
                lru[key] = None
            return
        path = entry.path
        for index in indexes:
            key = (path, index)
            if key in lru:
                lru.move_to_end(key)
            else:
                lru[key] = None

    def oldest(self, level: str) -> Victim | None:
        """The least recent page of `level` (None if the level holds none)."""
        lru = self._levels[level]
        if not lru:
            return None
        key = next(iter(lru))
        return key if self.per_page else (key, None)  # type: ignore[return-value]

    def drop(self, entry: FileEntry, index: int) -> None:
        """Page `index` of `entry` is no longer held (its bit already cleared)."""
        if self.per_page:
            self._levels[entry.priority].pop((entry.path, index), None)
        elif not entry.held:
            self._levels[entry.priority].pop(entry.path, None)

    def forget(self, entry: FileEntry) -> None:
        """Every page of `entry` is no longer held (call before clearing its bits)."""
        lru = self._levels[entry.priority]
        if self.per_page:
            path = entry.path
            for index in entry.indexes():
                lru.pop((path, index), None)
        else:
            lru.pop(entry.path, None)

    def move(self, entry: FileEntry, priority: str) -> None:
        """Move `entry` to level `priority`; its pages become the most recent there."""
        self.forget(entry)
        entry.priority = priority
        if entry.held:
            self.use(entry, entry.indexes())

    def clear(self) -> None:
        for lru in self._levels.values():
            lru.clear()
