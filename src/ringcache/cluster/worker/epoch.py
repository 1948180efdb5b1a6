"""Counters that same-host readers check to know no cached page was taken away meanwhile."""

from __future__ import annotations

import mmap
import os
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_COUNTERS = struct.Struct("<QQ")  # changes begun, changes ended


class ChangeEpoch:
    """Two 64-bit counters in a small file, shared by memory mapping with readers on this
    host: changes that may take bytes away from cached pages begun, and ended.

    Guarantees: every store call that could take bytes away from a cached page (an
    eviction punches the page's range out of its data file; a removal is included, so a
    reader also stops serving a file the rules dropped) runs inside `changing`; the
    counters never go down, also across restarts over the same file. A reader that took
    `stable()` (not None: no such change in flight), then saw the pages cached, read their
    bytes from the data file and then finds `begun` still at that value, read right bytes
    (a seqlock; HDFS's short-circuit reads keep a shared-memory slot for the same reason).
    """

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size < _COUNTERS.size:
                os.ftruncate(fd, _COUNTERS.size)
            self._map = mmap.mmap(fd, _COUNTERS.size)
        finally:
            os.close(fd)
        self._lock = threading.Lock()
        begun, _ = _COUNTERS.unpack_from(self._map, 0)
        # Readers of a previous run re-check what they had; a change it left half done ends.
        _COUNTERS.pack_into(self._map, 0, begun + 1, begun + 1)

    @property
    def begun(self) -> int:
        return _COUNTERS.unpack_from(self._map, 0)[0]

    def stable(self) -> int | None:
        """`begun` when no change is in flight, else None (nothing read now can be vouched for)."""
        return stable(self._map)

    @contextmanager
    def changing(self) -> Iterator[None]:
        """Around a change that may drop pages: begun before it, ended after it."""
        self._add(0)
        try:
            yield
        finally:
            self._add(1)

    def _add(self, field: int) -> None:
        with self._lock:
            counters = list(_COUNTERS.unpack_from(self._map, 0))
            counters[field] += 1
            _COUNTERS.pack_into(self._map, 0, *counters)


def stable(shared: mmap.mmap) -> int | None:
    """In a mapping of the counters' file: `begun` if no change is in flight, else None."""
    begun, ended = _COUNTERS.unpack_from(shared, 0)
    return begun if begun == ended else None


def begun(shared: mmap.mmap) -> int:
    return _COUNTERS.unpack_from(shared, 0)[0]
