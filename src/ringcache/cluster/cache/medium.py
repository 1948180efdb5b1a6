"""Where a `PageStore` keeps page bytes: the seam between its index and the storage.

The store's index, accounting and eviction are one implementation; a medium only holds
(or pretends to hold) the bytes of the pages the store lists, and keeps whatever record of
them must outlive the process. Two media pass the one contract suite
(tests/unit/cache/test_store_contract.py):

- `DiskMedium` (disk.py): sparse data files, a journal, recovery at open, hole punching;
- `SizeMedium` (below): no bytes at all, for the simulator; reads answer zeros of the
  right length, and every page written or read is charged to a meter in bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

from .layout import FileRange, StreamRange
from .model import FileEntry, PageSpan

PageData = bytes | memoryview | FileRange | StreamRange
#: Pages reserved for writing: `(index, length, data)`.
Reserved = Sequence[tuple[int, int, PageData]]


class Medium(Protocol):
    """What a `PageStore` asks of the storage under it.

    `per_page_recency` chooses the grain of the eviction order (see eviction.py);
    `instant` says a write costs nothing worth releasing the store's lock for;
    `journaled`, that records are staged and must be settled once the lock is released.
    `staged` counts the records noted so far; `settle(before, upto)`, called once the
    store's lock is released, returns when records `before + 1 .. upto` are durable.
    """

    per_page_recency: bool
    instant: bool
    journaled: bool

    @property
    def staged(self) -> int: ...

    def open(self, page_size: int, files: Mapping[str, FileEntry], lock: Lock) -> list[FileEntry]:
        """Begin serving `files` (the store's index, read under `lock`); returns the
        entries found from an earlier life, oldest cached first, each with the pages it
        still holds whole."""
        ...

    def write(self, entry: FileEntry, pages: Reserved) -> tuple[int, OSError | None]:
        """Write pages in order; how many were written whole, and what stopped the rest."""
        ...

    def write_run(
        self, entry: FileEntry, first: int, pages: Sequence[PageData], nbytes: int
    ) -> tuple[int, OSError | None]:
        """`write` of pages `first, first + 1, ...`, every one whole but the file's last,
        `nbytes` in all: a store's common case, without a tuple per page."""
        ...

    def read(self, entry: FileEntry, offset: int, length: int) -> bytes | memoryview:
        """`length` bytes of `entry`'s version at `offset`; FileNotFoundError if gone."""
        ...

    def locate(self, entry: FileEntry, offset: int, length: int) -> PageSpan | None:
        """Where `length` bytes of `entry` at `offset` lie in a file, for zero-copy
        readers; None if the medium keeps no file of them."""
        ...

    def note(self, entry: FileEntry) -> None:
        """What is cached of `entry` changed: stage its record."""
        ...

    def note_removed(self, path: str) -> None: ...

    def evicted(self, entry: FileEntry, index: int, length: int) -> None:
        """A page of a file that keeps others was evicted: free its space once the record
        saying so is durable."""
        ...

    def remove(self, entry: FileEntry) -> None:
        """Delete every byte of `entry`'s version."""
        ...

    def punch(self, entry: FileEntry, ranges: list[tuple[int, int]]) -> None:
        """Free the space of `(offset, length)` ranges of `entry`'s version."""
        ...

    def settle(self, before: int, upto: int) -> None: ...

    def batch(self) -> AbstractContextManager[None]:
        """Within the block, this thread's changes do not wait to be durable; all of them
        are once it exits."""
        ...

    def close(self) -> None: ...


class Lock(Protocol):
    """What serializes a store's calls: a `threading.RLock`, or `OneThread`."""

    def acquire(self) -> bool: ...

    def release(self) -> None: ...

    def __enter__(self) -> object: ...

    def __exit__(self, *exc_info: object) -> object: ...


class OneThread:
    """The lock of a store called from one thread only (the simulator's): there is never
    anyone to wait for, and a real lock's atomic operations cost more than the
    bookkeeping they would guard."""

    __slots__ = ()

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        pass

    def __enter__(self) -> OneThread:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass


class ByteMeter(Protocol):
    """Counts the bytes a node's disk moved (the simulator's `IoMeter`)."""

    def disk_write(self, nbytes: int) -> None: ...

    def disk_read(self, nbytes: int) -> None: ...


class SizeMedium:
    """A medium that keeps no bytes: the simulator's disk.

    Guarantees: every page written or read is charged to `meter` (if any) at its exact
    length; reads answer that many zero bytes without copying; nothing survives the
    process and nothing needs settling. Recency is per file (see eviction.py).
    """

    per_page_recency = False
    journaled = False  # nothing outlives the process
    instant = True  # no bytes to write
    staged = 0

    def __init__(self, meter: ByteMeter | None = None) -> None:
        self.meter = meter

    def __repr__(self) -> str:
        return f"SizeMedium(meter={self.meter!r})"

    def open(self, page_size: int, files: Mapping[str, FileEntry], lock: Lock) -> list[FileEntry]:
        return []

    def write(self, entry: FileEntry, pages: Reserved) -> tuple[int, OSError | None]:
        if self.meter is not None:
            total = 0
            for _, length, _ in pages:
                total += length
            self.meter.disk_write(total)
        return len(pages), None

    def write_run(
        self, entry: FileEntry, first: int, pages: Sequence[PageData], nbytes: int
    ) -> tuple[int, OSError | None]:
        if self.meter is not None:
            self.meter.disk_write(nbytes)
        return len(pages), None

    def read(self, entry: FileEntry, offset: int, length: int) -> memoryview:
        if self.meter is not None:
            self.meter.disk_read(length)
        return zero_bytes(length)

    def locate(self, entry: FileEntry, offset: int, length: int) -> None:
        return None  # no bytes, so no file to hand a reader

    def note(self, entry: FileEntry) -> None:
        pass  # nothing outlives the process

    def note_removed(self, path: str) -> None:
        pass

    def evicted(self, entry: FileEntry, index: int, length: int) -> None:
        pass

    def remove(self, entry: FileEntry) -> None:
        pass

    def punch(self, entry: FileEntry, ranges: list[tuple[int, int]]) -> None:
        pass

    def settle(self, before: int, upto: int) -> None:
        pass

    def batch(self) -> AbstractContextManager[None]:
        return _NOTHING_TO_BATCH  # asked once per batch of loads: no generator each time

    def close(self) -> None:
        pass


_NOTHING_TO_BATCH = nullcontext()


_zeros = b""


def zero_bytes(length: int) -> memoryview:
    """`length` zero bytes without copying: a view of one shared buffer (grown on demand)."""
    global _zeros
    if length > len(_zeros):
        _zeros = bytes(length)
    return memoryview(_zeros)[:length]
