"""Pages read from the UFS in one ranged read, and kept in the page store."""

from __future__ import annotations

from ..cache.store import CapacityExceeded, PageStore
from ..clock import Clock
from ..ufs.filesystem import FileVersion, UnderFileSystem


class PageFetcher:
    """Reads runs of a file's pages from the UFS and stores them.

    Guarantees: the pages answered are the UFS bytes of the range asked, whether or not
    they could be kept (a store too small, or `keep` false, stores nothing more).
    """

    def __init__(self, store: PageStore, clock: Clock, page_size: int) -> None:
        self.store = store
        self.clock = clock
        self.page_size = page_size

    def fetch(
        self,
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
        page_size = self.page_size
        offset = start * page_size
        # Pages are zero-copy views of one ranged read.
        blob = memoryview(ufs.read(uri, offset, min(version.size, stop * page_size) - offset))
        ends = range(page_size, (stop - start + 1) * page_size, page_size)
        pages = [blob[end - page_size : end] for end in ends]  # a short read: short pages
        if not keep:  # a quota keeps it out of the cache: serve the bytes, store nothing
            return pages
        try:
            now = self.clock.now()
            self.store.put_pages(uri, start, pages, now, version=version, priority=priority)
        except CapacityExceeded:
            pass  # serve the bytes anyway; the store is too small to keep them all
        return pages
