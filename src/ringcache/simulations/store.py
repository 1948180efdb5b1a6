"""The simulated page store: `PageStore`'s API, keeping page sizes and recency, no bytes.

Memory is what limits a simulation of a million cached files, so recency is kept per
file rather than per page (a real store's `OrderedDict` entry per page would cost about
150 bytes each): a hit makes the whole file most recent, and eviction takes the least
recent file's pages, lowest index first, which is the order a load wrote them in. Where
every page of a file is used together (loads, whole-file reads) the two orders agree.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from ..cluster.cache.model import (
    DEFAULT_PRIORITY,
    PRIORITIES,
    CachedFile,
    CapacityExceeded,
    SortedPaths,
    StoreStats,
    check_priority,
)
from ..cluster.errors import InvalidArgument, NotFound
from ..cluster.ufs.filesystem import FileVersion
from .costs import IoMeter
from .namespace import zero_bytes


class _Entry:
    """One recorded file: its version, priority and which pages it holds (a bitmask);
    `pages` is how many pages the version has, so it is whole when `mask` has that many."""

    __slots__ = (
        "path",
        "version",
        "pages",
        "cached_at",
        "last_access",
        "priority",
        "mask",
        "bytes",
    )

    def __init__(
        self, path: str, version: FileVersion, page_size: int, now: float, priority: str
    ) -> None:
        self.path = path
        self.version = version
        self.pages = -(-version.size // page_size)
        self.cached_at = now
        self.last_access = now
        self.priority = priority
        self.mask = 0
        self.bytes = 0

    def has(self, index: int) -> bool:
        return (self.mask >> index) & 1 == 1


class SimPageStore:
    """`PageStore` without data: capacity, eviction and accounting are real, bytes are not.

    Guarantees (those of `PageStore` except for the recency grain, see the module note):
    held page bytes never exceed `capacity_bytes`; LOW pages go before MEDIUM before HIGH;
    a page is held only for the version recorded now; a file whose last page is evicted is
    forgotten, except the one being written; `put_page` checks each page's exact length.
    Reads return zero bytes of the right length. Page writes and reads charge `meter`.
    """

    def __init__(
        self, capacity_bytes: int, page_size: int = 1 << 20, meter: IoMeter | None = None
    ) -> None:
        if capacity_bytes < 0 or page_size < 1:
            raise InvalidArgument(
                f"capacity_bytes ({capacity_bytes}) must be >= 0 and page_size ({page_size}) >= 1"
            )
        self.capacity_bytes = capacity_bytes
        self.page_size = page_size
        self.meter = meter
        self._files: dict[str, _Entry] = {}
        self._sorted = SortedPaths()
        # Files holding at least one page, per priority level, least recent first.
        self._lru: dict[str, OrderedDict[str, _Entry]] = {p: OrderedDict() for p in PRIORITIES}
        self._used = 0
        self._pages = 0
        self.evicted_pages = 0

    def __repr__(self) -> str:
        return f"SimPageStore(used={self._used}, capacity={self.capacity_bytes})"

    # -- files -----------------------------------------------------------------------------

    def set_file(
        self, path: str, version: FileVersion, now: float, priority: str | None = None
    ) -> None:
        if priority is not None:
            check_priority(priority)
        entry = self._files.get(path)
        if entry is not None and entry.version == version:
            if priority is not None and priority != entry.priority:
                self._move_priority(entry, priority)
            return
        if entry is not None:
            self._forget(entry)
        self._files[path] = _Entry(path, version, self.page_size, now, priority or DEFAULT_PRIORITY)
        self._sorted.add(path)

    def discard(self) -> None:
        """Forget every record at once (the simulated disk is gone; nothing is charged)."""
        self._files = {}
        self._sorted = SortedPaths()
        self._lru = {p: OrderedDict() for p in PRIORITIES}
        self._used = self._pages = 0

    def set_priority(self, path: str, priority: str) -> None:
        check_priority(priority)
        entry = self._require(path)
        if priority != entry.priority:
            self._move_priority(entry, priority)

    def lacking_whole(self, paths: Iterable[str]) -> list[str]:
        """The `paths` not held whole, in order (a checker's question; charges nothing)."""
        files = self._files
        return [
            path
            for path in paths
            if (entry := files.get(path)) is None or entry.mask.bit_count() != entry.pages
        ]

    def paths(self) -> list[str]:
        """Every recorded path, sorted (a checker's question; charges nothing)."""
        return sorted(self._files)

    def file_info(self, path: str) -> CachedFile | None:
        entry = self._files.get(path)
        return None if entry is None else self._describe(entry)

    def held(self, paths: Iterable[str]) -> list[tuple[FileVersion, int] | None]:
        return [
            None
            if entry is None or not (entry.mask or entry.version.size == 0)
            else (entry.version, entry.bytes)
            for entry in map(self._files.get, paths)
        ]

    def remove_file(self, path: str) -> int:
        entry = self._files.get(path)
        return 0 if entry is None else self._forget(entry)

    def list_files(self, start_after: str | None = None, limit: int = 1000) -> list[CachedFile]:
        return [
            self._describe(entry) for entry in self._sorted.page(self._files, start_after, limit)
        ]

    def list_held(
        self, start_after: str | None = None, limit: int = 1000
    ) -> list[tuple[str, FileVersion, int, bool]]:
        return [
            (e.path, e.version, e.bytes, e.mask.bit_count() == e.pages)
            for e in self._sorted.page(self._files, start_after, limit)
        ]

    def stats(self) -> StoreStats:
        return StoreStats(self.capacity_bytes, self._used, len(self._files), self._pages)

    @contextmanager
    def journal_batch(self) -> Iterator[None]:
        yield  # no journal here

    def close(self) -> None:
        pass  # nothing is open

    # -- pages -----------------------------------------------------------------------------

    def put_page(
        self, path: str, index: int, data: bytes, now: float, *, version: FileVersion | None = None
    ) -> list[tuple[str, int]]:
        return self.put_pages(path, index, (data,), now, version=version)

    def put_pages(
        self,
        path: str,
        first_index: int,
        pages: Sequence[bytes],
        now: float,
        *,
        version: FileVersion | None = None,
        priority: str | None = None,
    ) -> list[tuple[str, int]]:
        """Pages `first_index, first_index + 1, ...` as `put_page` would store each: the
        simulator's hottest call, so the run is checked and accounted in one pass."""
        entry = self._files.get(path)
        # The worker passes the same version object for every page of a file: test identity
        # first.
        if version is not None and (
            entry is None
            or entry.version is not version
            or (priority is not None and priority != entry.priority)
        ):
            self.set_file(path, version, now, priority)
            entry = self._files[path]
        elif entry is None:
            raise NotFound(f"{path} is not recorded in the page store; call set_file first")
        if type(first_index) is not int:  # enumerate() would turn True into 1
            raise InvalidArgument(f"page index must be an integer, not {first_index!r}")
        lru = self._lru[entry.priority]
        if self._put_run(entry, first_index, pages, now, lru):
            return []
        evicted: list[tuple[str, int]] = []
        for index, data in enumerate(pages, first_index):
            length = self._page_length(entry, index)
            if len(data) != length:
                raise InvalidArgument(
                    f"page {index} of {path} must be {length} bytes, not {len(data)}"
                )
            entry.last_access = now
            if (entry.mask >> index) & 1:
                lru.move_to_end(path)
                continue
            if length > self.capacity_bytes:
                raise CapacityExceeded(
                    f"page {index} of {path} ({length} bytes) does not fit in the page store "
                    f"({self.capacity_bytes} bytes)",
                    path=path,
                )
            if self._used + length > self.capacity_bytes:
                evicted += self._make_room(length, entry)
            if self.meter is not None:
                self.meter.disk_write(length)
            entry.mask |= 1 << index
            entry.bytes += length
            if path in lru:
                lru.move_to_end(path)
            else:
                lru[path] = entry
            self._used += length
            self._pages += 1
        return evicted

    def _put_run(
        self, entry: _Entry, first: int, pages: Sequence[bytes], now: float, lru: OrderedDict
    ) -> bool:
        """The common case of `put_pages` at once: new pages, all of the right length, room
        for all of them. False (nothing done) otherwise, for the page-by-page path."""
        count, size, page_size = len(pages), entry.version.size, self.page_size
        last = first + count - 1
        if not count or first < 0 or last * page_size >= size:
            return False
        run = ((1 << count) - 1) << first
        lengths = [len(page) for page in pages]
        last_length = min(page_size, size - last * page_size)
        total = sum(lengths)
        # Every page but the last is whole, the last is what is left of the file.
        if (
            entry.mask & run
            or lengths[-1] != last_length
            or max(lengths) > page_size
            or total != (count - 1) * page_size + last_length
            or self._used + total > self.capacity_bytes
        ):
            return False
        entry.last_access = now
        if self.meter is not None:
            self.meter.disk_write(total)
        entry.mask |= run
        entry.bytes += total
        if entry.path in lru:
            lru.move_to_end(entry.path)
        else:
            lru[entry.path] = entry
        self._used += total
        self._pages += count
        return True

    def get_page(self, path: str, index: int, now: float) -> memoryview | None:
        entry = self._files.get(path)
        if entry is None or not entry.has(index):
            return None
        size = self._page_length(entry, index)
        self._touch(entry, now, size)
        return zero_bytes(size)

    def read(self, path: str, offset: int, length: int | None, now: float) -> memoryview | None:
        entry = self._files.get(path)
        if entry is None:
            return None
        start, end = self._clamp(entry, offset, length)
        if start < end:
            first, last = start // self.page_size, (end - 1) // self.page_size
            if any(not entry.has(index) for index in range(first, last + 1)):
                return None
        self._touch(entry, now, end - start)
        return zero_bytes(end - start)

    def span(self, path: str, offset: int, length: int | None, now: float) -> None:
        """No page has bytes on a disk here: a range is always `read`, never sent by file."""
        return None

    def missing_pages(self, path: str, offset: int = 0, length: int | None = None) -> list[int]:
        entry = self._require(path)
        start, end = self._clamp(entry, offset, length)
        if start == end:
            return []
        first, last = start // self.page_size, (end - 1) // self.page_size
        return [index for index in range(first, last + 1) if not entry.has(index)]

    # -- internals -------------------------------------------------------------------------

    def _require(self, path: str) -> _Entry:
        entry = self._files.get(path)
        if entry is None:
            raise NotFound(f"{path} is not recorded in the page store; call set_file first")
        return entry

    def _page_length(self, entry: _Entry, index: int) -> int:
        if type(index) is not int:  # bool is no page index either
            raise InvalidArgument(f"page index must be an integer, not {index!r}")
        start = index * self.page_size
        if index < 0 or start >= entry.version.size:
            raise InvalidArgument(f"page {index} is out of range for {entry.path}")
        return min(self.page_size, entry.version.size - start)

    @staticmethod
    def _clamp(entry: _Entry, offset: int, length: int | None) -> tuple[int, int]:
        if offset < 0 or (length is not None and length < 0):
            raise InvalidArgument(f"offset {offset} and length {length} must not be negative")
        start = min(offset, entry.version.size)
        end = entry.version.size if length is None else min(entry.version.size, start + length)
        return start, end

    def _touch(self, entry: _Entry, now: float, nbytes: int) -> None:
        entry.last_access = now
        if entry.mask:
            self._lru[entry.priority].move_to_end(entry.path)
        if self.meter is not None:
            self.meter.disk_read(nbytes)

    def _describe(self, entry: _Entry) -> CachedFile:
        pages = entry.mask.bit_count()
        return CachedFile(
            path=entry.path,
            version=entry.version,
            cached_bytes=entry.bytes,
            pages=pages,
            cached_at=entry.cached_at,
            last_access=entry.last_access,
            complete=pages == entry.pages,
            priority=entry.priority,
        )

    def _make_room(self, needed: int, keep: _Entry) -> list[tuple[str, int]]:
        evicted: list[tuple[str, int]] = []
        for level in PRIORITIES:
            lru = self._lru[level]
            while self._used + needed > self.capacity_bytes and lru:
                entry = next(iter(lru.values()))
                index = (entry.mask & -entry.mask).bit_length() - 1  # lowest page held
                entry.mask &= ~(1 << index)
                size = self._page_length(entry, index)
                entry.bytes -= size
                self._used -= size
                self._pages -= 1
                self.evicted_pages += 1
                evicted.append((entry.path, index))
                if not entry.mask:
                    del lru[entry.path]
                    if entry is not keep:  # the file being written stays recorded
                        del self._files[entry.path]
        return evicted

    def _forget(self, entry: _Entry) -> int:
        freed = entry.bytes
        self._lru[entry.priority].pop(entry.path, None)
        self._used -= freed
        self._pages -= entry.mask.bit_count()
        entry.mask = 0
        entry.bytes = 0
        del self._files[entry.path]
        return freed

    def _move_priority(self, entry: _Entry, priority: str) -> None:
        if self._lru[entry.priority].pop(entry.path, None) is not None:
            self._lru[priority][entry.path] = entry
        entry.priority = priority
