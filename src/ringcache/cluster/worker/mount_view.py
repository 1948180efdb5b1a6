"""The worker's view of the mount table: read from the registry, refreshed on demand."""

from __future__ import annotations

import asyncio

from ..environment import UfsFactory
from ..errors import RingcacheError
from ..refs import ActorRef
from ..ufs.filesystem import UnderFileSystem
from ..ufs.mount_store import read_mount_entries, table_of
from ..ufs.mounts import MountPoint, MountTable


class MountView:
    """The mount table as this worker last read it, and the UFS behind each mount.

    Guarantees: `table` is replaced whole, never edited, and rebuilt only when the stored
    mount points changed; a path the table cannot resolve is tried again after one fresh
    read, and a burst of such paths shares that read (one registry call, not one per file).
    The UFS of each mount is made once per refresh (the factory may look at the disk, e.g.
    where a local root's link leads now), not once per read.
    """

    def __init__(self, registry: ActorRef, ufs_factory: UfsFactory) -> None:
        self.registry = registry
        self.ufs_factory = ufs_factory
        self.table = MountTable([])
        self.generation = 0  # refreshes done: a caller's stale table is one before the last
        self._entries: tuple[str, ...] = ()
        self._lock = asyncio.Lock()
        self._ufs: dict[str, UnderFileSystem] = {}  # by mount path, as of the last refresh

    async def refresh(self, seen: int | None = None) -> None:
        """Re-read the mount table; rebuilt only when it changed. With `seen` (a generation
        the caller found stale), skipped if another caller refreshed meanwhile, so a burst of
        misses costs one registry read, not one per file."""
        async with self._lock:
            if seen is not None and seen != self.generation:
                return
            entries = await read_mount_entries(self.registry)
            if entries != self._entries:
                self.table = table_of(entries)
                self._entries = entries
            self._ufs = {}
            self.generation += 1

    async def resolve(self, path: str) -> tuple[MountPoint, str]:
        """The mount point holding `path`, and `path`'s UFS URI. A mount may be newer than
        our table: on a miss the table is read again (once for a burst of misses)."""
        seen = self.generation
        try:
            return self.table.resolve(path)
        except RingcacheError:
            await self.refresh(seen)
            return self.table.resolve(path)

    async def open(self, path: str) -> tuple[UnderFileSystem, str]:
        """The UFS holding `path`, and `path`'s URI on it."""
        mount, uri = await self.resolve(path)
        ufs = self._ufs.get(mount.path)
        if ufs is None:
            ufs = self._ufs[mount.path] = self.ufs_factory(mount.ufs, mount.options)
        return ufs, uri
