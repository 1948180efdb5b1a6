"""Bytes into data files: pages given as bytes, as ranges of an open file (`FileRange`),
or as the next bytes arriving on a socket (`StreamRange`), the last two moved by the
kernel (`pipes`); runs of ranges merged into one copy, and holes punched."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import select
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from . import pipes

log = logging.getLogger(__name__)

PageData = bytes | memoryview  # or a FileRange or a StreamRange, below
BUFFER_BYTES = 1 << 20  # bytes received at a time where splice is not available


@dataclass(frozen=True)
class FileRange:
    """Bytes `[offset, offset + length)` of an open file, as page data: the kernel copies
    them (`pipes.splice_file`, else `copy_file_range`), so they never pass through Python.
    `page`: for a run of whole pages (`coalesced`), their size; each is copied apart."""

    fd: int
    offset: int
    length: int
    page: int = 0

    def __len__(self) -> int:
        return self.length


class StreamEnded(OSError):
    """A socket's stream ended, failed or fell silent before the bytes a page needed."""


class SocketStream:
    """The `length` bytes of a body arriving on an open socket, read once and in order:
    first those already taken off it (`buffered`, read with the answer's head; consumed
    from its front, so what follows the body stays there), then from the socket, never
    past the body's end.

    Guarantees: a `StreamRange` of it is written whole into its data file or raises
    (`StreamEnded` if the socket ended, failed or was silent for the socket's timeout);
    on Linux the bytes go socket -> pipe -> file by `splice` and never enter Python, else
    through one reused buffer. Once any read failed, `failed` is set and every later
    read raises: the connection must be closed.
    """

    def __init__(self, sock: socket.socket, buffered: bytearray, length: int) -> None:
        self.sock = sock
        self.buffered = buffered
        self.length = length
        self.position = 0  # bytes of the body taken so far
        self.failed = False

    def received(self, upto: int) -> bool:
        """Whether the body's first `upto` bytes have all arrived."""
        return self.position >= upto and not self.failed

    def read(self, length: int) -> bytearray:
        """The next `length` bytes, as bytes (a small part, or a fallback's copy)."""
        data = bytearray(length)
        self._fill(memoryview(data))
        return data

    def skip_to(self, position: int) -> None:
        """Take and drop the bytes up to `position` of the body."""
        buffer = _buffer()
        while self.position < position:
            self._fill(memoryview(buffer)[: min(len(buffer), position - self.position)])

    def write_range(self, piece: StreamRange, fd: int, at: int | None) -> None:
        """Write `piece` (the bytes at `piece.start` of the body, which are not taken yet)
        into `fd`, at its position or at offset `at`."""
        if piece.start < self.position:
            raise OSError(errno.EINVAL, f"byte {piece.start} of the stream was taken already")
        self.skip_to(piece.start)
        remaining = piece.length
        if self.buffered and remaining:  # the bytes read with the head first
            taken = self._take_buffered(remaining)
            write_all(fd, taken, at)
            remaining -= len(taken)
            at = None if at is None else at + len(taken)
        if remaining and pipes.splice_works[0] and at is not None:
            remaining, at = self._splice(fd, at, remaining)
        buffer = _buffer()
        while remaining:
            view = memoryview(buffer)[: min(len(buffer), remaining)]
            self._fill(view)
            write_all(fd, view, at)
            remaining -= len(view)
            at = None if at is None else at + len(view)

    def _take_buffered(self, limit: int) -> bytes:
        taken = bytes(self.buffered[:limit])
        del self.buffered[: len(taken)]
        self.position += len(taken)
        return taken

    def _fill(self, view: memoryview) -> None:
        """Fill `view` with the next bytes of the body."""
        if self.failed:
            raise StreamEnded(errno.EPIPE, "the stream failed before")
        if self.position + len(view) > self.length:
            raise OSError(errno.EINVAL, f"{len(view)} bytes past the body's end asked for")
        have = 0
        if self.buffered:
            taken = self._take_buffered(len(view))
            view[: len(taken)] = taken
            have = len(taken)
        try:
            while have < len(view):
                got = self.sock.recv_into(view[have:], len(view) - have)
                if not got:
                    raise StreamEnded(errno.EPIPE, "the stream ended before its body did")
                have += got
                self.position += got
        except OSError as exc:
            self.failed = True
            if isinstance(exc, StreamEnded):
                raise
            raise StreamEnded(exc.errno or errno.EIO, f"the stream failed: {exc}") from exc

    def _splice(self, fd: int, at: int, remaining: int) -> tuple[int, int]:
        """Move bytes socket -> pipe -> `fd` at `at` until none remain (or splice turns
        out not to work here: then what is left, for the buffer)."""
        pipe = pipes.thread_pipe()
        if pipe is None:
            return remaining, at
        source, (pipe_out, pipe_in) = self.sock.fileno(), pipe
        while remaining:
            try:
                ask = min(remaining, pipes.PIPE_BYTES)
                moved = os.splice(source, pipe_in, ask, flags=_NONBLOCK)
            except BlockingIOError:
                self._wait()
                continue
            except OSError as exc:
                if exc.errno in pipes.NOT_HERE:
                    pipes.splice_works[0] = False  # nothing moved: the buffer takes over
                    return remaining, at
                self.failed = True
                raise StreamEnded(exc.errno, f"the stream failed: {exc}") from exc
            if not moved:
                self.failed = True
                raise StreamEnded(errno.EPIPE, "the stream ended before its body did")
            self.position += moved
            remaining -= moved
            try:
                pipes.drain_pipe(pipe_out, fd, at, moved)
            except BaseException:
                pipes.drop_pipe()  # bytes may be left in it
                raise
            at += moved
        return remaining, at

    def _wait(self) -> None:
        timeout = self.sock.gettimeout()
        poll = select.poll()
        poll.register(self.sock.fileno(), select.POLLIN)
        if not poll.poll(None if timeout is None else timeout * 1000):
            self.failed = True
            raise StreamEnded(errno.ETIMEDOUT, f"the stream was silent for {timeout} s")


@dataclass(frozen=True)
class StreamRange:
    """Bytes `[start, start + length)` of a body arriving on a `SocketStream`, as page
    data; written in the order of their starts (bytes skipped are dropped)."""

    stream: SocketStream
    start: int
    length: int

    def __len__(self) -> int:
        return self.length


@dataclass(frozen=True)
class ArrivingFile:
    """A file's `length` bytes at `start` of a body arriving on a `SocketStream`: stored
    page by page as they arrive, and right once all of them have (a peer vouches for a
    file's bytes by sending its last)."""

    stream: SocketStream
    start: int
    length: int

    def pages(self, page_size: int) -> list[StreamRange]:
        start, end = self.start, self.start + self.length
        return [
            StreamRange(self.stream, at, min(page_size, end - at))
            for at in range(start, end, page_size)
        ]

    def arrived(self) -> bool:
        return self.stream.received(self.start + self.length)


_NONBLOCK = getattr(os, "SPLICE_F_NONBLOCK", 0) | getattr(os, "SPLICE_F_MOVE", 0)
_local = threading.local()  # each thread's buffer, reused


def _buffer() -> bytearray:
    buffer = getattr(_local, "buffer", None)
    if buffer is None:
        buffer = _local.buffer = bytearray(BUFFER_BYTES)
    return buffer


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
                data = FileRange(data.fd, data.offset, length, data.length)
        yield offset, data, count
        position += count


def _copy_range(source: FileRange, fd: int, at: int | None = None) -> None:
    """Copy `source` into `fd`, at its current position or at offset `at`, a page at a
    time: no copy spans two pages of the data file, so the page cache never keeps two
    pages in one folio. (Punching a hole in part of a folio zeroes those bytes in place,
    under any `sendfile` of them still queued on a socket; a folio wholly punched is let
    go instead, and what was queued keeps its bytes.)"""
    step = source.page or source.length or 1
    for done in range(0, source.length, step):
        length = min(step, source.length - done)
        _copy_page(source.fd, source.offset + done, length, fd, None if at is None else at + done)


def _copy_page(source: int, offset: int, remaining: int, fd: int, at: int | None) -> None:
    """By splice through this thread's pipe (more than `pipes.KERNEL_COPY_BYTES`), else
    by `copy_file_range`, else by plain reads and writes."""
    if at is not None and remaining > pipes.KERNEL_COPY_BYTES:
        left = pipes.splice_file(source, offset, fd, at, remaining)
        offset, at, remaining = offset + remaining - left, at + remaining - left, left
    while remaining:
        try:
            if at is None:
                copied = os.copy_file_range(source, fd, remaining, offset)
            else:
                copied = os.copy_file_range(source, fd, remaining, offset, at)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            data = os.pread(source, remaining, offset)  # no kernel copy here: plain I/O
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


def write_all(
    fd: int, data: bytes | memoryview | FileRange | StreamRange, at: int | None = None
) -> None:
    """Write all of `data` to `fd`, at its current position or at offset `at`."""
    if isinstance(data, FileRange):
        _copy_range(data, fd, at)
        return
    if isinstance(data, StreamRange):
        data.stream.write_range(data, fd, at)
        return
    if at is not None:
        pipes.pwrite_all(fd, data, at)
        return
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_at(fd: int, offset: int, data: bytes | memoryview | FileRange | StreamRange) -> None:
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
