"""Spans of data files sent on a connection by `sendfile`, each checked before its last
byte, straight from the event loop's thread: no thread hop, and no pausing and resuming
of the transport per span (as `loop.sendfile` does: it cost more than a small file's
bytes)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from typing import NoReturn

from ..cluster.cache.model import PageSpan
from ..cluster.worker.reads import UfsSpan

COPY_BELOW = 64 * 1024  # smaller spans are copied: cheaper than a sendfile's set-up
# Larger spans go out uncorked but for their last byte: TCP_CORK held through a bulk
# `sendfile` cost the sender half again its CPU per byte (and the receiver a tenth more)
# over loopback, four 16 MiB files at a time from one peer.
UNCORKED_FROM = 1 << 20


class SpanSender:
    """Sends on one connection's socket beside its transport, for one answer.

    Guarantees: bytes go out in order after what the transport had buffered (it is
    flushed first, and nothing may be written through it until `close`); each span goes
    out whole but for its last byte, then `valid()` is asked, then the last byte: a span
    not valid (a page dropped meanwhile) or shorter on disk aborts the connection, so a
    client never takes wrong bytes for right. A transport closed meanwhile (the server
    stopping, crashing, or the client gone) ends the sending with ConnectionResetError:
    the socket is reached through a descriptor of its own, never one the transport may
    have closed and the process reused.
    """

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.transport = writer.transport
        self.loop = asyncio.get_running_loop()
        self.sock: socket.socket | None = None

    async def start(self) -> None:
        """Flush what the transport holds; from now on, bytes go out here."""
        transport = self.transport
        if transport.get_write_buffer_size():
            low, high = transport.get_write_buffer_limits()
            transport.set_write_buffer_limits(high=0)  # drain waits until it is empty
            try:
                await self.writer.drain()
            finally:
                transport.set_write_buffer_limits(high=high, low=low)
        self._check_open()
        shared = self.writer.get_extra_info("socket")
        self.sock = socket.socket(fileno=os.dup(shared.fileno()))
        self.sock.setblocking(False)  # as the transport's (whatever the default timeout)
        self._cork(True)  # partial segments wait for the next span

    def close(self) -> None:
        """Let go of the socket: what is held back goes out (once aborted, the spans that
        went whole before, then the connection's end, mid-answer)."""
        if self.sock is not None:
            self._cork(False)
            self.sock.close()
            self.sock = None

    def _cork(self, on: bool) -> None:
        """Hold partial segments back (on), or send what is held and stop holding (off)."""
        with contextlib.suppress(OSError):
            self._socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, int(on))

    async def send_bytes(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            self._check_open()
            try:
                view = view[self._socket().send(view) :]
            except BlockingIOError:
                await self._writable()

    async def send_span(
        self, span: PageSpan | UfsSpan, valid: Callable[[], bool], opened: int | None = None
    ) -> None:
        """`span`'s bytes (read from `opened`, its data file open, if given), checked by
        `valid` before the last one goes out."""
        if not span.length:
            return
        try:
            fd = os.open(span.path, os.O_RDONLY) if opened is None else os.dup(opened)
        except FileNotFoundError:
            self._abort("a page was dropped before it was sent")
        try:
            if span.length <= COPY_BELOW:
                data = os.pread(fd, span.length, span.offset)
                if len(data) != span.length or not valid():
                    self._abort("a page was dropped while read")
                await self.send_bytes(data)
                return
            uncorked = span.length >= UNCORKED_FROM
            if uncorked:
                self._cork(False)
            await self._send_file(fd, span.offset, span.length - 1)
            if uncorked:
                self._cork(True)  # the last byte waits for the next span, or `close`
            if not valid():
                self._abort("a page was dropped while sent")
            await self._send_file(fd, span.offset + span.length - 1, 1)
        finally:
            os.close(fd)

    async def _send_file(self, fd: int, offset: int, count: int) -> None:
        while count:
            self._check_open()
            try:
                sent = os.sendfile(self._socket().fileno(), fd, offset, count)
            except BlockingIOError:
                await self._writable()
                continue
            if not sent:  # the data file is shorter than its pages say
                self._abort("a data file ended before its span did")
            offset += sent
            count -= sent

    async def _writable(self) -> None:
        fd = self._socket().fileno()
        ready = self.loop.create_future()
        self.loop.add_writer(fd, _settle, ready)
        try:
            await ready
        finally:
            self.loop.remove_writer(fd)

    def _socket(self) -> socket.socket:
        if self.sock is None:
            raise RuntimeError("SpanSender.start() first")
        return self.sock

    def _check_open(self) -> None:
        if self.transport.is_closing():
            raise ConnectionResetError("the connection closed while an answer was sent")

    def _abort(self, why: str) -> NoReturn:
        self.transport.abort()
        raise ConnectionResetError(f"{why}: the client retries")


def _settle(ready: asyncio.Future) -> None:
    if not ready.done():
        ready.set_result(None)
