"""Answers of a peer's data server read off a kept connection (blocking, on an I/O thread):
heads through a small buffer, bodies into buffers of their own or, file by file, handed
to a sink that stores them as they arrive."""

from __future__ import annotations

import functools
import json
import socket

from ..cluster.cache.page_io import ArrivingFile, SocketStream, StreamEnded
from ..cluster.ufs.filesystem import FileVersion
from ..cluster.worker.peers import (
    PEER_NOT_HELD,
    PEER_SHORT_READ,
    PEER_UNAVAILABLE,
    FileSink,
    PeerFetchFailed,
    RangeSink,
)
from .peer_api import FILES

# Bytes read at a time while looking for an answer's head: more than a head, little of the
# body after it, which is copied twice (the rest goes straight into the body's buffer).
HEAD_READ = 512


def answer_bytes(
    peer: str, path: str, version: FileVersion | None, length: int, status: int, body: bytearray
) -> bytearray | None:
    """The bytes of a range answer; None if the peer does not hold them; else raises."""
    if status == 404 and _reason(body) == PEER_NOT_HELD:
        return None
    if status != 200:
        text = bytes(body[:200]).decode("utf-8", "replace")
        raise PeerFetchFailed(f"{peer} answered {status}: {text}", PEER_UNAVAILABLE)
    if len(body) != length:
        message = f"{peer} answered {len(body)} of {length} bytes of {path} at {version}"
        raise PeerFetchFailed(message, PEER_SHORT_READ)
    return body


def receive_files(
    peer: str,
    reader: AnswerReader,
    group: list[tuple[str, FileVersion]],
    first: int,
    sink: FileSink,
) -> None:
    """A files answer taken off the connection: each file held handed to `sink` (as
    file `first + i`) as its bytes arrive; the rest of its bytes dropped if `sink` took
    fewer."""
    status, length = reader.head()
    if status != 200:
        answer_bytes(peer, FILES, None, length, status, reader.body(length))  # raises but a 404
        raise PeerFetchFailed(f"{peer} answered a files call 404", PEER_UNAVAILABLE)
    stream = SocketStream(reader.connection, reader.buffer, length)
    try:
        at = len(group)
        if length < at:
            raise Cut(f"{peer} answered {length} bytes for {at} files", True)
        held = stream.read(at)
        whole = at + sum(v.size for flag, (_, v) in zip(held, group, strict=True) if flag)
        if whole != length or max(held, default=0) > 1:
            raise Cut(f"{peer} answered {length} bytes for files of {whole}", True)
        for i, (flag, (_, version)) in enumerate(zip(held, group, strict=True)):
            if flag:
                sunk(
                    stream,
                    functools.partial(sink, first + i),
                    ArrivingFile(stream, at, version.size),
                )
                at += version.size
    except StreamEnded as exc:
        raise Cut(str(exc), True) from None


def sunk(stream: SocketStream, sink: RangeSink, arriving: ArrivingFile) -> None:
    """`arriving` handed to `sink`, then the rest of its bytes dropped if it took fewer;
    a cut of the stream is a `Cut`, anything else `sink` raised a `SinkFailed`."""
    try:
        sink(arriving)
    except BaseException as exc:
        if stream.failed:
            raise Cut(str(exc), True) from None
        raise SinkFailed(exc) from exc
    try:
        stream.skip_to(arriving.start + arriving.length)
    except StreamEnded as exc:
        raise Cut(str(exc), True) from None


class SinkFailed(Exception):
    """What a sink raised, carried past the reading (which takes an OSError as a cut)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class Cut(Exception):
    """The connection ended or failed; `received`: whether an answer had begun."""

    def __init__(self, message: str, received: bool) -> None:
        super().__init__(message)
        self.received = received


class AnswerReader:
    """Answers read off one connection: heads through a small buffer, bodies straight
    into their own buffers."""

    def __init__(self, connection: socket.socket) -> None:
        self.connection = connection
        self.buffer = bytearray()
        self.received = False  # any byte of the current answer

    def answer(self, _: int = 0) -> tuple[int, bytearray]:
        status, length = self.head()
        return status, self.body(length)

    def head(self) -> tuple[int, int]:
        """The next answer's status and body length (its body left to take)."""
        self.received = False
        return self._head()

    def body(self, length: int) -> bytearray:
        """The body of the answer whose head was taken, `length` bytes."""
        body = bytearray(length)
        view = memoryview(body)
        have = min(length, len(self.buffer))
        view[:have] = self.buffer[:have]
        del self.buffer[:have]
        while have < length:
            got = self.connection.recv_into(view[have:], length - have)
            if not got:
                raise Cut(f"the answer ended after {have} of {length} bytes", True)
            have += got
        return body

    def _head(self) -> tuple[int, int]:
        buffer = self.buffer
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            chunk = self.connection.recv(HEAD_READ)
            if not chunk:
                raise Cut("the connection closed before an answer", bool(buffer))
            self.received = True
            buffer += chunk
        lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
        del buffer[: end + 4]
        try:
            status = int(lines[0].split(" ")[1])
            headers = dict(line.split(":", 1) for line in lines[1:])
            length = int({k.strip().lower(): v for k, v in headers.items()}["content-length"])
        except (IndexError, KeyError, ValueError):
            raise Cut(f"not an HTTP answer: {lines[0][:100]!r}", True) from None
        return status, length


def _reason(body: bytearray) -> str | None:
    try:
        return json.loads(bytes(body)).get("reason")
    except (ValueError, AttributeError):
        return None
