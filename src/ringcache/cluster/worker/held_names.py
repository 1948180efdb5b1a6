"""Which files a worker holds anything of, as a filter its same-host readers map: a file
the filter says it holds nothing of, a reader on the host may read from the UFS itself.

A same-host miss of a local-disk file is answered with the UFS file's descriptor
(`dataserver.local_reads`), so the reader reads the file itself anyway; asking first only
tells it that the worker holds none of it, and costs a round trip to another process per
file, as much as the read of a large file on this machine. So the worker keeps, in a file
next to its change epoch, a counting filter of the paths its page store records (a
Bloom filter whose cells count, so a path forgotten is taken out again): each recorded
path adds one to its HASHES cells; a reader that finds any of a path's cells at zero
knows the worker records nothing of it at that moment. A worker answering a miss tells
the reader under which roots it may read such files itself, and while which of its
published table's generations (`published`): the reader then reads them, and notes what
it read to the worker afterwards (`client.read_notes`), which stores and counts it as the
miss it was.

A path the filter says may be held (it is, or its cells are shared with ones that are) is
asked for as before. A reader that reads a file the worker records meanwhile reads the UFS
file's bytes, which are right: the worker's copy is of the same file. Each cell is one
byte written by one writer under the page store's lock, so a reader never sees a torn
count; a cell that reaches CELL_MOST stays there (its paths are asked for from then on).
Each run of the worker writes a file of its own (`held-names-<run>`), so a reader of a
previous run's never sees this one's counts start again from zero.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

from .published import name_hash

CELLS = 1 << 22  # one byte each: a sparse file of 4 MiB
HASHES = 3  # cells per path
CELL_MOST = 255  # a count that reaches this stays (a path of it is always asked for)
PREFIX = "held-names-"


def cells(name: str) -> tuple[int, ...]:
    digest = name_hash(name)
    return tuple(int.from_bytes(digest[4 * i : 4 * i + 4], "little") % CELLS for i in range(HASHES))


class HeldNames:
    """The worker's side (a `cache.index.PathWatcher`): counts each path its page store
    records in the filter file at `path`, which it creates (removing other runs' files in
    the same directory) and removes at `close`.

    Guarantees: while it watches the store, every path recorded has each of its cells above
    zero. Called under the store's lock only."""

    def __init__(self, directory: Path | str, run: int) -> None:
        directory = Path(directory)
        for old in directory.glob(f"{PREFIX}*"):
            old.unlink(missing_ok=True)  # a reader that maps it keeps its pages
        self.path = str(directory / f"{PREFIX}{run}")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.ftruncate(fd, CELLS)
            self._map = mmap.mmap(fd, CELLS)
        finally:
            os.close(fd)

    def added(self, path: str) -> None:
        counts = self._map
        for cell in cells(path):
            count = counts[cell]
            if count < CELL_MOST:
                counts[cell] = count + 1

    def released(self, path: str) -> None:
        counts = self._map
        for cell in cells(path):
            count = counts[cell]
            if 0 < count < CELL_MOST:
                counts[cell] = count - 1

    def cleared(self) -> None:
        self._map[:] = bytes(CELLS)

    def close(self) -> None:
        """Stop: the file goes (readers that map it see its last counts, and are told by
        the table's lease that it is no longer kept)."""
        Path(self.path).unlink(missing_ok=True)
        self._map.close()


class HeldNamesView:
    """A reader's side: the filter file mapped read only."""

    def __init__(self, counts: mmap.mmap) -> None:
        self.counts = counts

    @classmethod
    def open(cls, path: str) -> HeldNamesView | None:
        """A view of the filter at `path`; None if there is none this process may map."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            if os.fstat(fd).st_size < CELLS:
                return None
            return cls(mmap.mmap(fd, CELLS, prot=mmap.PROT_READ))
        finally:
            os.close(fd)

    def may_hold(self, name: str) -> bool:
        """False if the worker records nothing of the file `name` (its UFS URI) now."""
        counts = self.counts
        return all(counts[cell] for cell in cells(name))
