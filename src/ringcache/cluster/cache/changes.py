"""Changes to what a page store holds: each made in its index and noted on its medium."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from ..errors import NotFound
from ..ufs.filesystem import FileVersion
from .index import CacheIndex
from .medium import Lock, Medium
from .model import DEFAULT_PRIORITY, FileEntry


class CacheChanges:
    """The changes a `PageStore` makes to what it holds, and the lock they are made under.

    Guarantees: each change to the index (a file recorded, moved, forgotten, or pages
    evicted to make room) is noted on the medium before the lock is released, and a
    change made inside `changing()` is settled on the medium once that block exits, after
    the lock is released, so no thread waits for the lock while another writes records.
    With a `guard` (`PageStore.guard_drops`), a block that takes bytes away from listed
    pages (an eviction, a file forgotten) enters `guard()` before the index changes and
    exits it once the block is settled; a block that drops nothing never enters it.
    Every method but `changing` is called with the lock held.
    """

    def __init__(self, index: CacheIndex, medium: Medium, lock: Lock) -> None:
        self.index = index
        self.medium = medium
        self.lock = lock
        self.journaled = medium.journaled
        self.guard: Callable[[], AbstractContextManager[object]] | None = None
        self.guarding: AbstractContextManager[object] | None = None  # entered in this block

    def changing(self) -> AbstractContextManager[object]:
        """The lock, for a call that may change records: they are settled when it exits
        (a medium that keeps no records and a store without a guard need only the lock)."""
        return _Change(self) if self.journaled or self.guard is not None else self.lock

    def record_file(
        self, path: str, version: FileVersion, now: float, priority: str | None
    ) -> FileEntry:
        """Record the version `path` is cached at (`PageStore.set_file`); its entry."""
        entry = self.index.files.get(path)
        # The worker passes the same version object for every run of a file: identity first.
        if entry is not None and (entry.version is version or entry.version == version):
            if priority is not None and priority != entry.priority:
                self.move_priority(entry, priority)
            return entry
        if entry is not None:
            self.forget(entry, journal=False)  # the new record below supersedes it
        superseded = entry is not None
        entry = FileEntry(path, version, now, priority or DEFAULT_PRIORITY)
        self.index.add(entry)
        # A file is on record once it has pages (`_list_run`); an empty file has none.
        if superseded or version.size == 0:
            self.medium.note(entry)
        return entry

    def make_room(self, needed: int, keep: FileEntry | None) -> list[tuple[str, int]]:
        """Evict until `needed` more bytes fit; returns the `(path, index)` pages evicted."""
        index = self.index
        if index.used + needed <= index.capacity_bytes:
            return []  # the common case, once per page stored
        self._dropping()
        evicted, forgotten, changed, dropped = index.evict(needed, keep)
        medium = self.medium
        for entry in forgotten:
            medium.remove(entry)  # its data goes whole
            medium.note_removed(entry.path)
        for entry in changed:
            medium.note(entry)
        for entry, page, length in dropped:  # freed once the records above are settled
            medium.evicted(entry, page, length)
        return evicted

    def forget(self, entry: FileEntry, journal: bool = True) -> int:
        """Delete a file's pages and its record; returns the page bytes freed."""
        self._dropping()
        freed = self.index.release(entry)
        self.medium.remove(entry)
        if journal:
            self.medium.note_removed(entry.path)
        return freed

    def move_priority(self, entry: FileEntry, priority: str) -> None:
        self.index.move(entry, priority)
        self.medium.note(entry)

    def require(self, path: str) -> FileEntry:
        entry = self.index.files.get(path)
        if entry is None:
            raise NotFound(
                f"{path} is not recorded in the page store; call set_file first "
                "(its pages may have been evicted)"
            )
        return entry

    def _dropping(self) -> None:
        """Bytes of listed pages are about to go: enter the guard, once per block."""
        if self.guard is not None and self.guarding is None:
            guarding = self.guard()
            guarding.__enter__()
            self.guarding = guarding


class _Change:
    """`CacheChanges.changing`: a class rather than a generator, as it wraps every call."""

    __slots__ = ("changes", "before")

    def __init__(self, changes: CacheChanges) -> None:
        self.changes = changes
        self.before = 0

    def __enter__(self) -> None:
        changes = self.changes
        changes.lock.acquire()
        self.before = changes.medium.staged

    def __exit__(self, *exc_info: object) -> None:
        changes = self.changes
        upto = changes.medium.staged
        guarding, changes.guarding = changes.guarding, None  # this block's, taken under the lock
        changes.lock.release()
        try:
            changes.medium.settle(self.before, upto)
        finally:
            if guarding is not None:
                guarding.__exit__(None, None, None)
