"""The page store's reads: whole pages, byte ranges, what a range still lacks, what is held."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from ..errors import InvalidArgument
from ..ufs.filesystem import FileVersion
from .model import CachedFile, FileEntry

if TYPE_CHECKING:
    from .store import PageStore


class PageSpan(NamedTuple):
    """Where the bytes of a cached range are on disk: `length` bytes at `offset` of the
    data file `path`, so a server can hand them to the kernel (`os.sendfile`)."""

    path: str
    offset: int
    length: int


class PageReads:
    """Reads for `PageStore`: a hit makes the pages read most recent; a data file found
    missing on disk forgets its file rather than fail every later read."""

    def get_page(self: PageStore, path: str, index: int, now: float) -> bytes | None:
        """One whole page, or None if it is not cached; a hit makes it most recent."""
        with self._changing():  # a page found missing on disk forgets the file
            entry = self._files.get(path)
            if entry is None or index not in entry.pages:
                return None
            parts = self._read_pages(entry, [(index, 0, None)], now)
            return None if parts is None else parts[0]

    def read(
        self: PageStore, path: str, offset: int, length: int | None, now: float
    ) -> bytes | None:
        """Bytes of a cached file, or None unless every page the range needs is cached.

        The range is clamped to the file size (`length=None` reads to the end), so a
        range past the end is `b""`. Every page read becomes most recent.
        """
        with self._changing():  # a page found missing on disk forgets the file
            entry = self._files.get(path)
            if entry is None:
                return None
            start, end = self._clamp(entry, offset, length)
            if start == end:
                entry.last_access = now
                return b""
            size = self.page_size
            needed = range(start // size, (end - 1) // size + 1)
            if any(index not in entry.pages for index in needed):
                return None
            ranges = [
                (index, max(start - index * size, 0), min(end - index * size, size))
                for index in needed
            ]
            parts = self._read_pages(entry, ranges, now)
            return None if parts is None else b"".join(parts)

    def span(
        self: PageStore, path: str, offset: int, length: int | None, now: float
    ) -> PageSpan | None:
        """Where a cached range's bytes are on disk, or None unless every page it needs is
        cached (the range clamped as by `read`); the pages become most recent, as read.

        Valid as `read`'s answer is: the bytes are the file's while its pages stay cached.
        A reader that sends them afterwards asks again once done (an equal answer means no
        page of the range was dropped meanwhile, as far as the index knows).
        """
        with self._lock:
            entry = self._files.get(path)
            if entry is None:
                return None
            start, end = self._clamp(entry, offset, length)
            size = self.page_size
            needed = range(start // size, (end - 1) // size + 1) if end > start else range(0)
            if any(index not in entry.pages for index in needed):
                return None
            lru = self._lru[entry.priority]
            for index in needed:
                lru.move_to_end((entry.path, index))
            entry.last_access = now
            return PageSpan(self._layout.data_path(entry.key), start, end - start)

    def missing_pages(
        self: PageStore, path: str, offset: int = 0, length: int | None = None
    ) -> list[int]:
        """Pages the range needs that are not cached; NotFound if the file is not recorded."""
        with self._lock:
            entry = self._require(path)
            start, end = self._clamp(entry, offset, length)
            if start == end:
                return []
            needed = range(start // self.page_size, (end - 1) // self.page_size + 1)
            return [index for index in needed if index not in entry.pages]

    def held(self: PageStore, paths: Iterable[str]) -> list[tuple[FileVersion, int] | None]:
        """For each path, the version held and the bytes of it held; None if no byte is
        (an empty file is held once recorded). One lock for all: the index's reports."""
        page_size, files = self.page_size, self._files
        with self._lock:
            return [
                None
                if entry is None or not (entry.pages or entry.version.size == 0)
                else (entry.version, entry.cached_bytes(page_size))
                for entry in map(files.get, paths)
            ]

    def list_files(
        self: PageStore, start_after: str | None = None, limit: int = 1000
    ) -> list[CachedFile]:
        """Up to `limit` cached files with paths after `start_after`, sorted by path."""
        with self._lock:
            return [
                entry.describe(self.page_size)
                for entry in self._sorted.page(self._files, start_after, limit)
            ]

    def list_held(
        self: PageStore, start_after: str | None = None, limit: int = 1000
    ) -> list[tuple[str, FileVersion, int, bool]]:
        """`list_files` as `(path, version, cached bytes, complete)`, without the rest:
        listing a whole cache (a rebalance) builds no `CachedFile` per file."""
        size = self.page_size
        with self._lock:
            return [
                (e.path, e.version, e.cached_bytes(size), len(e.pages) == e.page_count(size))
                for e in self._sorted.page(self._files, start_after, limit)
            ]

    @staticmethod
    def _clamp(entry: FileEntry, offset: int, length: int | None) -> tuple[int, int]:
        if offset < 0 or (length is not None and length < 0):
            raise InvalidArgument(f"offset {offset} and length {length} must not be negative")
        start = min(offset, entry.version.size)
        end = entry.version.size if length is None else min(entry.version.size, start + length)
        return start, end

    def _read_pages(
        self: PageStore, entry: FileEntry, ranges: list[tuple[int, int, int | None]], now: float
    ) -> list[bytes] | None:
        lru = self._lru[entry.priority]
        parts = []
        for index, start, end in ranges:
            if end is None:
                end = entry.page_length(index, self.page_size)
            try:
                parts.append(
                    self._layout.read(entry.key, index * self.page_size + start, end - start)
                )
            except FileNotFoundError:
                # Deleted behind our back: forget the file rather than fail every read.
                self._forget(entry)
                return None
            lru.move_to_end((entry.path, index))
        entry.last_access = now
        return parts
