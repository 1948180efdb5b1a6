"""The worker's read path: a range of a file from its pages, or from the UFS on a miss."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..cache.model import page_runs
from ..cache.store import CapacityExceeded, PageStore
from ..errors import RingcacheError, Unavailable
from ..policies import CacheRule
from ..ufs.filesystem import FileVersion, UnderFileSystem

if TYPE_CHECKING:
    from ..ufs.mounts import MountPoint
    from .worker import Worker


class ReadPath:
    """Reads for `Worker`: hits served from the page store, misses fetched and cached."""

    async def _mount_of(self: Worker, path: str) -> tuple[MountPoint, str]:
        """The mount point holding `path`, and `path`'s UFS URI. A mount may be newer than
        our table: on a miss the table is read again (once for a burst of misses)."""
        seen = self.mounts_generation
        try:
            return self.mounts.resolve(path)
        except RingcacheError:
            await self.refresh_mounts(seen)
            return self.mounts.resolve(path)

    async def _resolve(self: Worker, path: str) -> tuple[UnderFileSystem, str]:
        mount, uri = await self._mount_of(path)
        return self.env.ufs_factory(mount.ufs, mount.options), uri

    async def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        """Bytes `[offset, offset+length)` of a file, from the cache or, on a miss, the UFS."""
        ufs, uri = await self._resolve(path)
        return await self.env.run_io(self._read, ufs, uri, offset, length)

    def _read(
        self: Worker, ufs: UnderFileSystem, uri: str, offset: int, length: int | None
    ) -> bytes:
        store = self._require_store()
        policies = self._policies()
        now = self.clock.now()
        if policies.cache_rule_for(uri)[0] is CacheRule.SKIP_CACHE:
            if store.file_info(uri) is not None:
                store.remove_file(uri)  # cached before the rule came: never served again
            return self._read_through(ufs, uri, offset, length)
        info, status = self._servable(ufs, uri, policies, now)
        if info is None:
            version = (status or ufs.stat(uri)).version
        else:
            version = info.version
        page_size = self.config.page_size
        size = version.size
        offset = max(0, min(offset, size))
        end = size if length is None else min(size, offset + max(0, length))
        first, last = offset // page_size, max(end - 1, offset) // page_size
        wanted = range(first, last + 1) if end > offset else range(0)
        if info is not None and end > offset:
            # A whole hit: only the bytes asked for are read, in one call, copied once.
            hit = store.read(uri, offset, end - offset, now)
            if hit is not None:
                self.counters["hits"] += len(wanted)
                self.counters["bytesFromCache"] += len(hit)
                return hit
        pages: dict[int, bytes] = {}
        if info is not None:
            for index in wanted:
                data = store.get_page(uri, index, self.clock.now())
                if data is not None:
                    pages[index] = data
        missing = [index for index in wanted if index not in pages]
        keep = True
        if info is None or missing:
            needed = sum(min(page_size, size - index * page_size) for index in missing)
            keep = self._admit(uri, needed, policies).allowed
            if keep and info is None:
                store.set_file(uri, version, now)
        if end <= offset:
            return b""
        hits = len(pages)
        for start, stop in page_runs(missing):
            fetched = self._fetch_pages(ufs, uri, version, start, stop, keep=keep)
            pages.update(zip(range(start, stop), fetched, strict=True))
        self.counters["hits"] += hits
        self.counters["misses"] += len(missing)
        self.counters["bytesFromCache"] += sum(len(pages[i]) for i in pages if i not in missing)
        self.counters["bytesFromUfs"] += sum(len(pages[i]) for i in missing)
        data = b"".join(pages[index] for index in range(first, last + 1))
        return data[offset - first * page_size : end - first * page_size]

    def _read_through(
        self: Worker, ufs: UnderFileSystem, uri: str, offset: int, length: int | None
    ) -> bytes:
        """Bytes straight from the UFS, stored nowhere (a `skipCache` file)."""
        if length is not None and length <= 0:
            return b""
        data = ufs.read(uri, max(0, offset), length)
        self.counters["misses"] += -(-len(data) // self.config.page_size)
        self.counters["bytesFromUfs"] += len(data)
        return data

    def _fetch_pages(
        self: Worker,
        ufs: UnderFileSystem,
        uri: str,
        version: FileVersion,
        start: int,
        stop: int,
        keep: bool = True,
        priority: str | None = None,
    ) -> list[memoryview]:
        """Read pages `[start, stop)` from the UFS in one ranged read, in order; cache them
        if `keep` (recording the file at `version`, at `priority` if new)."""
        store = self._require_store()
        page_size = self.config.page_size
        offset = start * page_size
        # Pages are zero-copy views of one ranged read.
        blob = memoryview(ufs.read(uri, offset, min(version.size, stop * page_size) - offset))
        ends = range(page_size, (stop - start + 1) * page_size, page_size)
        pages = [blob[end - page_size : end] for end in ends]  # a short read: short pages
        if not keep:  # a quota keeps it out of the cache: serve the bytes, store nothing
            return pages
        try:
            now = self.clock.now()
            store.put_pages(uri, start, pages, now, version=version, priority=priority)
        except CapacityExceeded:
            pass  # serve the bytes anyway; the store is too small to keep them all
        return pages

    def _require_store(self) -> PageStore:
        if self.store is None:
            raise Unavailable(f"{self.worker_id} has not started")
        return self.store
