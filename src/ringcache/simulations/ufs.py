"""The simulated under file system: `UnderFileSystem`'s calls over a generated namespace.

Each node gets its own `SimUfs` over the shared `SimNamespace`, so what it reads is
charged to that node's `IoMeter` (its NIC, its latency). Reads return views of one shared
zero buffer: the worker only slices what it reads and hands it to the page store, which
keeps sizes, so no file data is ever allocated.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from ..cluster.cache.medium import zero_bytes
from ..cluster.errors import InvalidArgument, UfsError, UfsNotFound
from ..cluster.paths import normalize_uri, relative_to, split_uri
from ..cluster.ufs.filesystem import FileStatus
from .costs import IoMeter
from .namespace import SimNamespace


class SimUfs:
    """`UnderFileSystem`'s calls (stat, read, local_path, open_local, is_dir, exists,
    list_files, list_dir) for one node.

    Guarantees: the same answers and errors as `cluster.ufs.UnderFileSystem` on a tree of
    the same shape (listing order, `start_after` cursors, pages, `UfsNotFound` for a
    missing file, `UfsError` for a directory read as a file); every call charges its
    modelled cost to `meter`; with `read_error_rate` > 0, that fraction of reads fails with
    `UfsError` (reason UFS_READ_FAILED), decided by the run's seeded generator.
    """

    def __init__(
        self,
        namespace: SimNamespace,
        meter: IoMeter,
        *,
        rng: random.Random | None = None,
        read_error_rate: float = 0.0,
    ) -> None:
        self.namespace = namespace
        self.meter = meter
        self.scheme, _ = split_uri(namespace.root)
        self.rng = rng or random.Random(0)
        self.read_error_rate = read_error_rate
        self.reads = 0
        self.bytes_read = 0
        self.failed_reads = 0

    def __repr__(self) -> str:
        return f"SimUfs({self.namespace!r})"

    # -- files -----------------------------------------------------------------------------

    def stat(self, uri: str) -> FileStatus:
        self.meter.ufs_metadata()
        kind, i = self._require(uri)
        if kind != "file":
            raise UfsError(f"{uri} is not a regular file", path=uri)
        return self._status(i)

    def read(self, uri: str, offset: int = 0, length: int | None = None) -> memoryview:
        if offset < 0 or (length is not None and length < 0):
            raise InvalidArgument(f"offset {offset} and length {length} must not be negative")
        i = self.namespace.index(uri)  # a file's URI as the namespace spells it: at once
        if i is None:
            kind, i = self._require(uri)
            if kind != "file":
                raise UfsError(f"UFS call on {uri} failed: it is a directory", path=uri)
        size = self.namespace.sizes.item(i)  # `size(i)` without its call: one per file read
        start = min(offset, size)
        end = size if length is None else min(size, offset + length)
        count = max(0, end - start)
        self.meter.ufs_read(count)
        self.reads += 1
        if self.read_error_rate and self.rng.random() < self.read_error_rate:
            self.failed_reads += 1
            raise UfsError(f"UFS call on {uri} failed: injected read error", path=uri)
        self.bytes_read += count
        return zero_bytes(count)

    def local_path(self, uri: str) -> str | None:
        """None: a simulated file is never on the local disk, so it is read, not copied."""
        return None

    def open_local(self, uri: str) -> None:
        """None: a simulated file is never on the local disk, so it is read, not copied."""
        return None

    def local_roots(self) -> tuple[str, ...]:
        """(): a simulated file is never on the local disk."""
        return ()

    def is_dir(self, uri: str) -> bool:
        self.meter.ufs_metadata()
        found = self._locate(uri)
        return found is not None and found[0] != "file"

    def exists(self, uri: str) -> bool:
        self.meter.ufs_metadata()
        return self._locate(uri) is not None

    # -- listings --------------------------------------------------------------------------

    def list_files(
        self, uri: str, *, page_size: int = 1000, start_after: str | None = None
    ) -> Iterator[list[FileStatus]]:
        """Pages of files under `uri`, in listing order, resuming after `start_after`.

        As in `UnderFileSystem`, arguments are checked here and the namespace is first
        looked at when the iterator is advanced; each page yielded costs one listing call.
        """
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise InvalidArgument(f"page_size must be a positive integer, not {page_size!r}")
        top = self._normalize(uri)
        cursor: tuple[str, ...] | None = None
        if start_after is not None:
            below = relative_to(self._normalize(start_after), top)
            cursor = tuple(below.split("/")) if below else ()
        return self._pages(top, cursor, page_size)

    def list_dir(self, uri: str) -> list[tuple[FileStatus, bool]]:
        if not self.is_dir(uri):
            raise UfsNotFound(f"{uri} is not a directory on the UFS", path=uri)
        kind, d = self._require(uri)
        space = self.namespace
        if kind == "root":
            return [(FileStatus(space.dir_uri(k), 0, None, None), True) for k in range(space.dirs)]
        return [(self._status(i), False) for i in space.dir_range(d)]

    def _pages(
        self, top: str, cursor: tuple[str, ...] | None, page_size: int
    ) -> Iterator[list[FileStatus]]:
        kind, number = self._require(top)
        space = self.namespace
        if kind == "file":
            if cursor is None:
                self.meter.ufs_metadata()
                yield [self._status(number)]
            return
        files, depth = (range(space.files), 0) if kind == "root" else (space.dir_range(number), 1)
        start = files.start if not cursor else space.first_after(cursor, files, depth)
        mtime = space.mtime
        for first in range(start, files.stop, page_size):
            self.meter.ufs_metadata()
            page = space.paths_and_sizes(first, min(files.stop, first + page_size))
            yield [FileStatus(path, size, mtime, None) for path, size in page]

    # -- internals -------------------------------------------------------------------------

    def _status(self, i: int) -> FileStatus:
        space = self.namespace
        return FileStatus(space.path(i), space.size(i), space.mtime, None)

    def _normalize(self, uri: str) -> str:
        scheme, _ = split_uri(uri)
        if scheme != self.scheme:
            raise InvalidArgument(f"{uri!r} is not on this {self.scheme}:// filesystem")
        return normalize_uri(uri)

    def _locate(self, uri: str) -> tuple[str, int] | None:
        # The worker passes canonical URIs: try them as given before normalizing.
        found = self.namespace.locate(uri)
        return found if found is not None else self.namespace.locate(self._normalize(uri))

    def _require(self, uri: str) -> tuple[str, int]:
        found = self._locate(uri)
        if found is None:
            raise UfsNotFound(f"{uri} does not exist on the UFS", path=uri)
        return found
