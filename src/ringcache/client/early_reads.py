"""A same-host miss of a local-disk file, read by the client while its owner answers.

A miss of a file on the local disk is answered by its owner with a descriptor of the UFS
file itself (`ufs`, see `dataserver.local_reads`), which the client then reads: the owner's
answer, then the client's read. When the owner's last answer was such a miss, a cold sweep
is likely under way, so once the request is sent the client reads the range from its own
descriptor of the file (`EarlyReads.begin`) while the owner answers on another core, and
keeps those bytes only if the answer is a miss of the same file (the descriptor handed
over is of the same device and inode) and of the same range (`EarlyRead.take`). Otherwise
they are dropped, and the answer is read as always. (On the calling thread: a read handed
to another thread waited for that thread to be woken and run, and the caller for it in
turn; measured on 8 MiB misses, the calling thread's read made a cold read ~15% faster.)

What the owner guarantees still holds: it checks the path against its mount root and the
allowed local roots, counts the miss and stores the pages, once; the client never returns
bytes of a file the owner did not hand over under those checks. A guess costs one wasted
read when the answer comes from the cache instead, and then no guess is made until the
owner answers a miss again.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

EARLY_MOST = 64 * 1024**2  # larger ranges are not read ahead of the answer


def local_path(uri: str) -> str | None:
    """The local path of a canonical `file:///` URI (as mount resolution gives them), else None."""
    if uri.startswith("file:///") and "/." not in uri and "//" not in uri[8:]:
        return uri[7:]
    return None


def open_to_read(path: str) -> int | None:
    """A descriptor of `path` opened to read, if this process may; else None."""
    try:
        # O_NONBLOCK: a FIFO's open would otherwise wait for a writer.
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except (OSError, ValueError):  # ValueError: a NUL in the path
        return None


@dataclass(frozen=True)
class EarlyRead:
    """Bytes `[offset, offset + len(data))` of the regular file `(device, inode)`, read
    before its owner answered."""

    device: int
    inode: int
    offset: int
    data: bytes

    @classmethod
    def start(cls, uri: str, offset: int, length: int | None) -> EarlyRead | None:
        """The range of the local file `uri` names, read now; None if it names none, or
        no regular file this process may read, or more than EARLY_MOST bytes of one."""
        path = local_path(uri)
        fd = None if path is None else open_to_read(path)
        if fd is None:
            return None
        try:
            found = os.fstat(fd)
            if not stat.S_ISREG(found.st_mode):
                return None
            start = min(max(0, offset), found.st_size)
            end = found.st_size if length is None else min(found.st_size, start + max(0, length))
            if end - start > EARLY_MOST:
                return None
            data = os.pread(fd, end - start, start)
        except OSError:
            return None
        finally:
            os.close(fd)
        return cls(found.st_dev, found.st_ino, start, data)

    def take(self, fd: int, offset: int, length: int) -> bytes | None:
        """The bytes read early, if the owner handed over `fd` for `[offset, offset +
        length)` of this same file (device and inode) and they cover it; else None."""
        if offset != self.offset or length > len(self.data):
            return None
        handed = os.fstat(fd)
        if (handed.st_dev, handed.st_ino) != (self.device, self.inode):
            return None
        return self.data if length == len(self.data) else self.data[:length]


class EarlyReads:
    """Whether to read a miss early, per worker: its last answer was a miss of a local UFS
    file. Thread-safe (each entry is one worker's, replaced whole)."""

    def __init__(self) -> None:
        self._missed: dict[str, bool] = {}

    def begin(self, worker_id: str, uri: str, offset: int, length: int | None) -> EarlyRead | None:
        """The range read now, if the worker's last answer was a miss of a local UFS
        file (and `EarlyRead.start` could read it); else None."""
        if not self._missed.get(worker_id):
            return None
        return EarlyRead.start(uri, offset, length)

    def answered(self, worker_id: str, ufs_miss: bool) -> None:
        """What the worker's last answer was: a miss of a local UFS file, or not."""
        self._missed[worker_id] = ufs_miss
