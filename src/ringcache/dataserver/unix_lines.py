"""The frame both same-host servers share: calls of one line each on an abstract Unix
socket, a task per connection (`local_reads` for clients, `peer_handover` for peers)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Awaitable, Callable

RECV_BYTES = 65536

Answer = Callable[[asyncio.AbstractEventLoop, socket.socket, bytes], Awaitable[None]]


class UnixLineServer:
    """Serves the abstract Unix socket `name`: `answer(loop, connection, line)` answers each
    line. A connection ends when its peer closes it or sends a line of more than `max_line`
    bytes, or when the server stops; one connection's end never stops the others."""

    def __init__(self, name: str, answer: Answer, max_line: int) -> None:
        self.name = name
        self.answer = answer
        self.max_line = max_line
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task | None = None
        self._connections: set[asyncio.Task] = set()

    async def start(self) -> None:
        """Listen; OSError if the name is taken on this host."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(self.name)
        except OSError:
            listener.close()
            raise
        listener.listen(256)
        listener.setblocking(False)
        self._listener = listener
        self._accepting = asyncio.get_running_loop().create_task(self._accept(listener))

    async def stop(self) -> None:
        if self._listener is None:
            return
        tasks = [t for t in (self._accepting, *self._connections) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._listener.close()
        self._listener = None

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            connection, _ = await loop.sock_accept(listener)
            task = loop.create_task(self._serve(connection))
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)

    async def _serve(self, connection: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        connection.setblocking(False)
        buffer = b""
        try:
            while True:
                while b"\n" not in buffer:
                    chunk = await loop.sock_recv(connection, RECV_BYTES)
                    if not chunk or len(buffer) > self.max_line:
                        return
                    buffer += chunk
                line, buffer = buffer.split(b"\n", 1)
                await self.answer(loop, connection, line)
        except (ConnectionError, asyncio.CancelledError):
            pass  # the other side went away, or this worker is stopping
        finally:
            connection.close()


def json_line(value: object) -> bytes:
    """A call's or an answer's line."""
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"


async def send_with_fds(
    loop: asyncio.AbstractEventLoop, connection: socket.socket, data: bytes, fds: list[int]
) -> None:
    """`data` with the descriptors `fds` attached to its first bytes."""
    while True:
        try:
            sent = socket.send_fds(connection, [data], fds)
            break
        except BlockingIOError:
            await asyncio.sleep(0.001)  # the other side's buffer is full: it will read soon
    if sent < len(data):
        await loop.sock_sendall(connection, data[sent:])


def receive_with_fds(connection: socket.socket, most_fds: int) -> tuple[bytes, list[int], bytes]:
    """Blocking: one answer line, the descriptors (up to `most_fds`) that came with it, and
    any bytes after the line; the descriptors are closed if the line never comes whole."""
    buffer, fds = b"", []
    try:
        while b"\n" not in buffer:
            data, more, _, _ = socket.recv_fds(connection, 65536, most_fds)
            fds += more
            if not data:
                raise ConnectionResetError("the other side closed the socket")
            buffer += data
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    line, rest = buffer.split(b"\n", 1)
    return line, fds, rest
