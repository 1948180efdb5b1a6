"""Descriptors a same-host client holds to read files again without asking their owner:
a wholly cached file's data file (handed over, or found published), or a local UFS file
handed over for a miss."""

from __future__ import annotations

import mmap
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from ..cluster.cache.model import clamped
from ..cluster.worker.epoch import begun, stable
from .read_notes import ReadNotes

# A whole cached file's descriptor (while the epoch stays put), or a local UFS file's, is
# read again without asking the worker for this long: a rule added meanwhile (a TTL) is
# obeyed this much later.
REUSE_SECONDS = 1.0
HELD_PER_THREAD = 64  # descriptors kept per thread for re-reading


@dataclass
class Held:
    """A descriptor of a wholly cached file, the file at `[base, base + size)` in it, or
    of a local UFS file handed over (`shared` None; `base` 0): what is read from it is
    noted to its owner (`notes_to`, the owner's socket), which counts it as the hits they
    were (or, of a UFS file, stores it)."""

    fd: int
    base: int
    size: int
    epoch: int | None
    shared: mmap.mmap | None
    until: float
    notes_to: str = ""


class Holds(OrderedDict[tuple[str, str], Held]):
    """One thread's held descriptors by (worker, URI), the most recently used last; they
    are closed when the thread's state goes (the thread ended)."""

    def __del__(self) -> None:
        for held in self.values():
            os.close(held.fd)


class HeldFiles:
    """Each thread's held descriptors, read again without asking while that is right.

    Guarantees: a descriptor is read again for at most REUSE_SECONDS after it was held
    and, of a cache file, only while its worker's change epoch stays where it was (checked
    before and after reading), else it is let go; at most HELD_PER_THREAD are kept per
    thread (the least recently used let go first), and a thread's are closed when it ends.
    Every range read is noted to the file's owner (`notes`)."""

    def __init__(self, notes: ReadNotes) -> None:
        self._notes = notes
        self._local = threading.local()

    def read(self, key: tuple[str, str], offset: int, length: int | None) -> bytes | None:
        """The range of the file `key` (worker, URI) from the descriptor this thread holds
        of it, while that is still right; else None (and it is let go)."""
        holds = self._holds()
        held = holds.get(key)
        if held is None:
            return None
        data = self._reread(held, key[1], offset, length)
        if data is not None:
            holds.move_to_end(key)  # most recently used last
            return data
        del holds[key]
        os.close(held.fd)
        return None

    def hold(
        self,
        key: tuple[str, str],
        fd: int,
        size: int,
        notes_to: str,
        *,
        base: int = 0,
        epoch: int | None = None,
        shared: mmap.mmap | None = None,
    ) -> None:
        """Keep `fd` (of the file `key`; of a cache file with `epoch` and its worker's
        counters `shared`) for REUSE_SECONDS; the one it replaces, or the least recently
        used past HELD_PER_THREAD, is closed."""
        holds = self._holds()
        old = holds.pop(key, None)
        if old is not None:
            os.close(old.fd)
        until = time.monotonic() + REUSE_SECONDS
        holds[key] = Held(fd, base, size, epoch, shared, until, notes_to)
        while len(holds) > HELD_PER_THREAD:
            os.close(holds.popitem(last=False)[1].fd)

    def _holds(self) -> Holds:
        try:
            return self._local.held
        except AttributeError:  # this thread's first
            holds = self._local.held = Holds()
            return holds

    def _reread(self, held: Held, uri: str, offset: int, length: int | None) -> bytes | None:
        shared = held.shared
        if time.monotonic() > held.until or (shared is not None and stable(shared) != held.epoch):
            return None
        start, end = clamped(offset, length, held.size)
        if shared is not None:
            data = pread_all(held.fd, end - start, held.base + start)
            if begun(shared) != held.epoch:
                return None
        else:
            try:
                data = pread_all(held.fd, end - start, start)
            except OSError:  # the UFS file is shorter now: ask its owner
                return None
        if end > start:
            self._notes.note(held.notes_to, uri, start, end - start, served=shared is not None)
        return data


def pread_all(fd: int, length: int, offset: int) -> bytes:
    """`length` bytes at `offset`; OSError if the file ends before them."""
    data = os.pread(fd, length, offset)
    if len(data) == length:
        return data
    parts = [data]
    while (got := sum(map(len, parts))) < length:
        more = os.pread(fd, length - got, offset + got)
        if not more:
            raise OSError("a cache file ended before the range it was handed for")
        parts.append(more)
    return b"".join(parts)
