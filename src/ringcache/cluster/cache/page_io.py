"""Bytes into data files: pages given as bytes or as ranges of an open file (`FileRange`,
copied by the kernel), runs of ranges merged into one copy, and holes punched."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

PageData = bytes | memoryview  # or a FileRange, below


@dataclass(frozen=True)
class FileRange:
    """Bytes `[offset, offset + length)` of an open file, as page data: the kernel copies
    them (`copy_file_range`), so they never pass through Python."""

    fd: int
    offset: int
    length: int

    def __len__(self) -> int:
        return self.length


def coalesced(
    pages: Sequence[tuple[int, PageData | FileRange]],
) -> Iterator[tuple[int, PageData | FileRange, int]]:
    """`(offset, data, count)`: the pieces in order, each run of `FileRange`s that follow
    one another in both the source file and the data file merged into one."""
    position = 0
    while position < len(pages):
        offset, data = pages[position]
        count = 1
        if isinstance(data, FileRange):
            length = data.length
            for next_offset, piece in pages[position + 1 :]:
                if not (
                    isinstance(piece, FileRange)
                    and piece.fd == data.fd
                    and piece.offset == data.offset + length
                    and next_offset == offset + length
                ):
                    break
                length += piece.length
                count += 1
            if count > 1:
                data = FileRange(data.fd, data.offset, length)
        yield offset, data, count
        position += count


def _copy_range(source: FileRange, fd: int, at: int | None = None) -> None:
    """Copy `source` into `fd`, at its current position or at offset `at`."""
    remaining, offset = source.length, source.offset
    while remaining:
        try:
            if at is None:
                copied = os.copy_file_range(source.fd, fd, remaining, offset)
            else:
                copied = os.copy_file_range(source.fd, fd, remaining, offset, at)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            data = os.pread(source.fd, remaining, offset)  # no kernel copy here: plain I/O
            if len(data) != remaining:
                raise OSError(errno.EIO, "the source file ended before the page did") from None
            write_all(fd, data, at)
            return
        if copied == 0:
            raise OSError(errno.EIO, "the source file ended before the page did")
        remaining -= copied
        offset += copied
        if at is not None:
            at += copied


def write_all(fd: int, data: bytes | memoryview | FileRange, at: int | None = None) -> None:
    """Write all of `data` to `fd`, at its current position or at offset `at`."""
    if isinstance(data, FileRange):
        _copy_range(data, fd, at)
        return
    view = memoryview(data)
    while view:
        if at is None:
            view = view[os.write(fd, view) :]
        else:
            done = os.pwrite(fd, view, at)
            view, at = view[done:], at + done


def write_at(fd: int, offset: int, data: bytes | memoryview | FileRange) -> None:
    write_all(fd, data, offset)


def has_data(fd: int, size: int, offset: int, length: int) -> bool:
    """Whether `[offset, offset + length)` of the file is within it and holds no hole."""
    if offset + length > size:
        return False
    if length == 0:
        return True
    try:
        return os.lseek(fd, offset, os.SEEK_HOLE) >= offset + length
    except OSError:
        return False


def _load_fallocate():  # type: ignore[no-untyped-def]
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        function = getattr(libc, "fallocate64", None) or libc.fallocate
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    function.restype = ctypes.c_int
    return function


_FALLOCATE = _load_fallocate()
_PUNCH_HOLE = 0x01 | 0x02  # FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE
_punch_warned = False


def punch_quietly(fd: int, offset: int, length: int) -> None:
    """Deallocate a range; where the file system cannot, its space stays used (logged)."""
    global _punch_warned
    if length <= 0:
        return
    if _FALLOCATE is not None and _FALLOCATE(fd, _PUNCH_HOLE, offset, length) == 0:
        return
    if not _punch_warned:
        code = ctypes.get_errno() if _FALLOCATE is not None else errno.ENOSYS
        log.warning(
            "cannot punch holes here (%s): evicted pages keep their disk space", os.strerror(code)
        )
        _punch_warned = True
