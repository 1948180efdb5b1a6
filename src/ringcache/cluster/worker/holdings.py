"""What this worker holds: listings of its cache, and dropping files from it."""

from __future__ import annotations

from ..cache.store import PageStore
from ..errors import RingcacheError
from ..results import FileResult, freed, not_cached
from ..ufs.filesystem import FileVersion
from .mount_view import MountView


class Holdings:
    """Lists and frees what this worker's page store holds; one result per file.

    Guarantees: listings are sorted by UFS path and paged by a cursor, so a caller walks
    everything held in bounded answers; a free never fails for a file not held.
    """

    def __init__(self, store: PageStore, mounts: MountView) -> None:
        self.store = store
        self.mounts = mounts

    async def free_batch(self, paths: list[str]) -> list[FileResult]:
        """Drop each file's cached pages; FREED with the bytes dropped, or NOT_CACHED."""
        store = self.store
        results = []
        for path in paths:
            try:
                _, uri = await self.mounts.open(path)
            except RingcacheError:
                uri = path  # unmounted since: still drop what we hold under that name
            dropped = store.remove_file(uri) if store.file_info(uri) else None
            results.append(not_cached(uri) if dropped is None else freed(uri, dropped))
        return results

    async def free_prefix(self, ufs_prefix: str) -> int:
        """Drop everything cached under a UFS root (an unmount); returns the bytes freed."""
        store = self.store
        root = ufs_prefix.rstrip("/") + "/"
        freed = 0
        for cached in await self.list_all_cached():
            if cached["path"] == ufs_prefix or cached["path"].startswith(root):
                freed += store.remove_file(cached["path"])
        return freed

    async def list_cached(self, start_after: str | None = None, limit: int = 1000) -> list[dict]:
        """One page of what this worker holds, sorted by UFS path."""
        files = self.store.list_held(start_after=start_after, limit=limit)
        return [cached_entry(*held) for held in files]

    async def list_all_cached(self) -> list[dict]:
        found, cursor = [], None
        while page := await self.list_cached(cursor, 1000):
            found.extend(page)
            cursor = page[-1]["path"]
        return found


def cached_entry(path: str, version: FileVersion, cached_bytes: int, complete: bool) -> dict:
    """One file of a cache listing, as `list_cached` answers it."""
    return {
        "path": path,
        "length": version.size,
        "mtime": version.mtime,
        "etag": version.etag,
        "cachedBytes": cached_bytes,
        "complete": complete,
    }
