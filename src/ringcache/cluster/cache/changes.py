"""Changes to what a page store holds: each made in its index and noted on its medium."""

from __future__ import annotations

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
    Every method but `changing` is called with the lock held.
    """

    def __init__(self, index: CacheIndex, medium: Medium, lock: Lock) -> None:
        self.index = index
        self.medium = medium
        self.lock = lock
        self.journaled = medium.journaled

    def changing(self) -> AbstractContextManager[object]:
        """The lock, for a call that may change records: they are settled when it exits
        (a medium that keeps no records needs only the lock)."""
        return _Change(self.lock, self.medium) if self.journaled else self.lock

    def record_file(
        self, path: str, version: FileVersion, now: float, priority: str | None
    ) -> None:
        """Record the version `path` is cached at (`PageStore.set_file`)."""
        entry = self.index.files.get(path)
        # The worker passes the same version object for every run of a file: identity first.
        if entry is not None and (entry.version is version or entry.version == version):
            if priority is not None and priority != entry.priority:
                self.move_priority(entry, priority)
            return
        if entry is not None:
            self.forget(entry, journal=False)  # the new record below supersedes it
        superseded = entry is not None
        entry = FileEntry(path, version, now, priority or DEFAULT_PRIORITY)
        self.index.add(entry)
        # A file is on record once it has pages (`_list_run`); an empty file has none.
        if superseded or version.size == 0:
            self.medium.note(entry)

    def make_room(self, needed: int, keep: FileEntry | None) -> list[tuple[str, int]]:
        """Evict until `needed` more bytes fit; returns the `(path, index)` pages evicted."""
        index = self.index
        if index.used + needed <= index.capacity_bytes:
            return []  # the common case, once per page stored
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


class _Change:
    """`CacheChanges.changing`: a class rather than a generator, as it wraps every call."""

    __slots__ = ("lock", "medium", "before")

    def __init__(self, lock: Lock, medium: Medium) -> None:
        self.lock = lock
        self.medium = medium
        self.before = 0

    def __enter__(self) -> None:
        self.lock.acquire()
        self.before = self.medium.staged

    def __exit__(self, *exc_info: object) -> None:
        upto = self.medium.staged
        self.lock.release()
        self.medium.settle(self.before, upto)
