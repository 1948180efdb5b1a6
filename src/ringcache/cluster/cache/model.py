"""The page store's vocabulary: priorities, the records it answers with, its error, and
the small in-memory structures behind it."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

from ..errors import InvalidArgument, RingcacheError
from ..ufs.filesystem import FileVersion
from .layout import file_key

EntryT = TypeVar("EntryT")  # what a listing pages over: a store's own entry class

#: Priority levels in eviction order: every LOW page goes before any MEDIUM page.
PRIORITIES = ("LOW", "MEDIUM", "HIGH")
DEFAULT_PRIORITY = "MEDIUM"


class PageSpan(NamedTuple):
    """Where the bytes of a cached range lie on disk: `length` bytes at `offset` of the
    data file `path`, so a server can hand them to the kernel (`os.sendfile`)."""

    path: str
    offset: int
    length: int


class CapacityExceeded(RingcacheError):
    """A page cannot be stored even after evicting everything else (507)."""

    status_code = 507

    def __init__(self, message: str, **details: object) -> None:
        details.pop("reason", None)
        super().__init__(message, reason="CAPACITY_EXCEEDED", **details)
        self.reason = "CAPACITY_EXCEEDED"


@dataclass(frozen=True)
class CachedFile:
    """What the store holds of one UFS file, at the version it was read at.

    `complete` is True when every page of `version.size` is cached (an empty file is
    complete as soon as it is recorded).
    """

    path: str
    version: FileVersion
    cached_bytes: int
    pages: int
    cached_at: float
    last_access: float
    complete: bool
    priority: str = DEFAULT_PRIORITY


@dataclass(frozen=True)
class StoreStats:
    capacity_bytes: int
    used_bytes: int
    cached_files: int
    pages: int
    # Pages evicted to make room since the store opened: a count of events, not of what
    # the store holds, so two stats of the same contents are equal whatever it is.
    pages_evicted: int = field(default=0, compare=False)


def check_priority(priority: str) -> None:
    if priority not in PRIORITIES:
        raise InvalidArgument(f"priority must be one of {', '.join(PRIORITIES)}, not {priority!r}")


class FileEntry:
    """In-memory record of one cached file: its version and which of its pages are held.

    Pages are bits of an int (`held`, and `writing` for pages whose bytes are being
    written, their space reserved): a million simulated files cost an int each, not a
    set each. `cached` is the bytes of the pages held, kept by the index as they come and
    go (reports ask it of every file). `key`, the name of the version's data on disk, is
    computed when first asked.
    """

    __slots__ = (
        "path",
        "version",
        "cached_at",
        "last_access",
        "priority",
        "held",
        "cached",
        "writing",
        "_key",
    )

    def __init__(self, path: str, version: FileVersion, cached_at: float, priority: str) -> None:
        self.path = path
        self.version = version
        self.cached_at = cached_at
        self.last_access = cached_at
        self.priority = priority
        self.held = 0
        self.cached = 0
        self.writing = 0
        self._key: str | None = None

    @property
    def key(self) -> str:
        if self._key is None:
            version = self.version
            self._key = file_key(self.path, version.size, version.mtime, version.etag)
        return self._key

    def has(self, index: int) -> bool:
        return (self.held >> index) & 1 == 1

    def indexes(self) -> list[int]:
        """The indexes of the pages held, in order."""
        return bit_indexes(self.held)

    def page_count(self, page_size: int) -> int:
        return -(-self.version.size // page_size)

    def page_length(self, index: int, page_size: int) -> int:
        """Size of page `index`; InvalidArgument if the file has no such page."""
        if type(index) is not int:  # bool is no page index either
            raise InvalidArgument(f"page index must be an integer, not {index!r}")
        count = self.page_count(page_size)
        if not 0 <= index < count:
            raise InvalidArgument(
                f"page {index} is out of range for {self.path} "
                f"({self.version.size} bytes, {count} pages)"
            )
        return min(page_size, self.version.size - index * page_size)

    def held_bytes(self, page_size: int) -> int:
        """The bytes of the pages `held`, counted from its bits (`cached` is kept)."""
        held = self.held
        if not held:
            return 0
        size = self.version.size
        count = -(-size // page_size)
        if (held >> (count - 1)) & 1:  # only the last page may be short
            return held.bit_count() * page_size - count * page_size + size
        return held.bit_count() * page_size

    def describe(self) -> CachedFile:
        return CachedFile(
            path=self.path,
            version=self.version,
            cached_bytes=self.cached,
            pages=self.held.bit_count(),
            cached_at=self.cached_at,
            last_access=self.last_access,
            complete=self.cached == self.version.size,  # every page held
            priority=self.priority,
        )

    def record(self) -> dict:
        """What the journal keeps of this file: its version, level and pages on disk."""
        return {
            "path": self.path,
            "size": self.version.size,
            "mtime": self.version.mtime,
            "etag": self.version.etag,
            "cached_at": self.cached_at,
            "priority": self.priority,
            "pages": page_runs(self.indexes()),
        }

    @classmethod
    def from_record(cls, record: dict) -> FileEntry | None:
        """The entry a journal record describes, its pages those the record lists (not
        yet checked against the disk); None if the record is malformed."""
        try:
            version = FileVersion(int(record["size"]), record["mtime"], record["etag"])
            path, cached_at = str(record["path"]), float(record["cached_at"])
            entry = cls(path, version, cached_at, record["priority"])
            for start, stop in record.get("pages", []):
                start, stop = int(start), int(stop)
                if 0 <= start < stop:
                    entry.held |= ((1 << (stop - start)) - 1) << start
        except (TypeError, KeyError, ValueError):
            return None
        return entry if entry.priority in PRIORITIES and version.size >= 0 else None


def bit_indexes(mask: int) -> list[int]:
    """The positions of the set bits of `mask`, lowest first (linear in its length)."""
    return [index for index, bit in enumerate(reversed(bin(mask)[2:])) if bit == "1"]


def bits(indexes: Iterable[int]) -> int:
    """The mask with the bits at `indexes` set."""
    mask = 0
    for index in indexes:
        mask |= 1 << index
    return mask


def page_runs(pages: Iterable[int]) -> list[list[int]]:
    """Sorted page indexes as `[start, stop)` runs: `{0, 1, 2, 5}` -> `[[0, 3], [5, 6]]`."""
    runs: list[list[int]] = []
    for index in sorted(pages):
        if runs and runs[-1][1] == index:
            runs[-1][1] = index + 1
        else:
            runs.append([index, index + 1])
    return runs


def page_spans(ranges: list[tuple[int, int]], page: int) -> list[tuple[int, int]]:
    """`[start, end)` spans covering `ranges` (`(offset, length)`; empty or negative ones
    left out), in order, two joined (with the gap between) when they touch the same page:
    no page is in two."""
    spans: list[list[int]] = []
    for offset, length in sorted(r for r in ranges if r[0] >= 0 and r[1] > 0):
        end = offset + length
        if spans and offset // page <= (spans[-1][1] - 1) // page:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([offset, end])
    return [(start, end) for start, end in spans]


def pages_in(offset: int, length: int, page: int) -> int:
    """How many pages of `page` bytes the range `[offset, offset + length)` touches."""
    return (offset + length - 1) // page - offset // page + 1 if length > 0 else 0


def clamped(offset: int, length: int | None, size: int) -> tuple[int, int]:
    """`[start, end)` of the range `offset`, `length` (None: to the end) within `size`."""
    start = max(0, min(offset, size))
    return start, size if length is None else min(size, start + max(0, length))


class SortedPaths:
    """Paths in sorted order for paging, kept cheaply while paths come and go.

    Its owner calls `add` for a path that becomes live and `discard` for one that stops
    being live. New paths wait in a list and are merged on the next read (timsort merges a
    sorted run with a sorted tail in linear time); removed paths stay until they outnumber
    the live ones, and readers skip them by checking the live set they pass in. Only the
    removed paths still listed are kept in a set (a path live again is then not listed
    twice), not every path: at ten million cached files a set of all of them is 700 MB.
    """

    def __init__(self) -> None:
        self._sorted: list[str] = []
        self._pending: list[str] = []
        self._gone: set[str] = set()  # listed above, but no longer live

    def add(self, path: str) -> None:
        """`path` is live now (it was not)."""
        if path in self._gone:
            self._gone.discard(path)  # still listed: live again
        else:
            self._pending.append(path)

    def discard(self, path: str) -> None:
        """`path`, live until now, is not: it stays listed (readers skip it) until a rebuild."""
        self._gone.add(path)

    def snapshot(self, live: Mapping[str, object]) -> list[str]:
        """Sorted paths, possibly including some not in `live` (callers skip those)."""
        if len(self._sorted) + len(self._pending) > 2 * len(live) + 1000:
            self._sorted = sorted(live)
            self._gone = set()
            self._pending = []
        elif self._pending:
            self._sorted.extend(sorted(self._pending))
            self._sorted.sort()
            self._pending = []
        return self._sorted

    def page(self, live: Mapping[str, EntryT], start_after: str | None, limit: int) -> list[EntryT]:
        """Up to `limit` of `live`'s entries with paths after `start_after`, in path order."""
        if limit < 1:
            raise InvalidArgument(f"limit must be at least 1, not {limit}")
        paths = self.snapshot(live)
        position = 0 if start_after is None else bisect_right(paths, start_after)
        entries: list[EntryT] = []
        while position < len(paths) and len(entries) < limit:
            # A slice at a time: as many paths as entries are still wanted (gone ones skipped).
            stretch = paths[position : position + limit - len(entries)]
            position += len(stretch)
            entries += [entry for path in stretch if (entry := live.get(path)) is not None]
        return entries
