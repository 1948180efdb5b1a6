"""Pages read from the UFS in ranged reads, or copied by the kernel from a local file, and
kept in the page store."""

from __future__ import annotations

from collections.abc import Sequence

from ..cache.layout import FileRange
from ..cache.store import CapacityExceeded, PageStore
from ..clock import Clock
from ..ufs.filesystem import FileVersion, UnderFileSystem
from .throttle import Throttle

LOCAL_RUN_PAGES = 16  # pages of a local file stored per page-store call

Page = bytes | memoryview


class PageFetcher:
    """Reads runs of a file's pages from the UFS and stores them.

    Guarantees: the pages answered are the UFS bytes of the range asked, whether or not
    they could be kept (a store too small, or `keep` false, stores nothing more).
    """

    def __init__(self, store: PageStore, clock: Clock, page_size: int) -> None:
        self.store = store
        self.clock = clock
        self.page_size = page_size

    def read(
        self, ufs: UnderFileSystem, uri: str, version: FileVersion, start: int, stop: int
    ) -> list[memoryview]:
        """Pages `[start, stop)` from the UFS in one ranged read: zero-copy views of it."""
        page_size = self.page_size
        offset = start * page_size
        blob = memoryview(ufs.read(uri, offset, min(version.size, stop * page_size) - offset))
        ends = range(page_size, (stop - start + 1) * page_size, page_size)
        return [blob[end - page_size : end] for end in ends]  # a short read: short pages

    def keep(
        self,
        uri: str,
        version: FileVersion,
        start: int,
        pages: Sequence[Page],
        priority: str | None = None,
    ) -> None:
        """Store pages `start, start + 1, ...` of `uri` at `version`, as many as fit."""
        try:
            now = self.clock.now()
            self.store.put_pages(uri, start, pages, now, version=version, priority=priority)
        except CapacityExceeded:
            pass  # the bytes were served anyway; the store is too small to keep them all

    def copy_local(
        self,
        fd: int,
        uri: str,
        version: FileVersion,
        runs: Sequence[tuple[int, int]],
        throttle: Throttle | None = None,
        priority: str | None = None,
    ) -> None:
        """Runs `[start, stop)` of pages of a file on the local disk (open as `fd`), copied
        by the kernel straight into the store (recording the file at `version`, at
        `priority` if new)."""
        store, page_size, size = self.store, self.page_size, version.size
        for run_start, run_stop in runs:
            for start in range(run_start, run_stop, LOCAL_RUN_PAGES):
                stop = min(run_stop, start + LOCAL_RUN_PAGES)
                ranges = [
                    FileRange(fd, index * page_size, min(page_size, size - index * page_size))
                    for index in range(start, stop)
                ]
                if throttle is not None:
                    throttle.consume(sum(page.length for page in ranges))
                now = self.clock.now()
                store.put_pages(uri, start, ranges, now, version=version, priority=priority)
                priority = None  # recorded: a rule changed since is the enforcer's to apply
