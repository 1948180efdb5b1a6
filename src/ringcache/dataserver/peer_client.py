"""`PeerPages` over HTTP: a worker reads a peer's cached pages from the peer's data server
(`/v1/peer/range`, see `peer_api`), on kept-alive connections, in threads.

Each exchange is blocking socket I/O on an I/O thread: the request goes out in one send,
the body comes into one preallocated buffer (`recv_into`, no copy in Python), so a large
range costs a few system calls; a bundle of small files is pipelined on one connection.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from ..cluster.ufs.filesystem import FileVersion
from ..cluster.worker.peers import (
    PEER_NOT_HELD,
    PEER_SHORT_READ,
    PEER_UNAVAILABLE,
    Buffer,
    PeerAddresses,
    PeerFetchFailed,
)
from .alluxio import file_id
from .peer_api import PREFIX

PER_PEER = 4  # exchanges in flight with one peer (and connections kept to it)
PIPELINE = 16  # requests of a bundle sent ahead of the answers read
TIMEOUT = 30.0  # seconds a peer may leave a connection silent
Ask = tuple[str, FileVersion, int, int]  # path, version, offset, length


class HttpPeerPages:
    """Reads peers' pages from their data servers.

    Guarantees (the `PeerPages` contract): exact bytes or `PeerFetchFailed`; at most
    `per_peer` exchanges in flight per peer, each on a connection kept for the next; a
    kept connection the peer closed is replaced once, silently; any other cut (the peer
    died mid-answer) is PEER_SHORT_READ or PEER_UNAVAILABLE, and its address is asked of
    the registry afresh next time (a restarted worker may listen elsewhere).
    """

    def __init__(
        self,
        addresses: PeerAddresses,
        token: str | None = None,
        per_peer: int = PER_PEER,
        timeout: float = TIMEOUT,
        run_io: Callable[..., Awaitable[Any]] = asyncio.to_thread,
    ) -> None:
        self.addresses = addresses
        self.authorization = f"Authorization: Bearer {token}\r\n" if token else ""
        self.per_peer = per_peer
        self.timeout = timeout
        self.run_io = run_io
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._idle: dict[str, list[socket.socket]] = {}
        self._lock = threading.Lock()

    async def fetch(
        self, peer: str, path: str, version: FileVersion, offset: int, length: int
    ) -> Buffer:
        (data,) = await self._exchange(peer, [(path, version, offset, length)])
        if data is None:
            raise PeerFetchFailed(f"{peer} does not hold {path} at {version}", PEER_NOT_HELD)
        return data

    async def fetch_whole(
        self, peer: str, files: list[tuple[str, FileVersion]]
    ) -> list[Buffer | None]:
        return await self._exchange(peer, [(path, v, 0, v.size) for path, v in files])

    def close(self) -> None:
        """Close every kept connection."""
        with self._lock:
            kept, self._idle = self._idle, {}
        for connections in kept.values():
            for connection in connections:
                connection.close()

    async def _exchange(self, peer: str, asks: list[Ask]) -> list[Buffer | None]:
        address = await self.addresses.resolve(peer)
        slot = self._slots.get(peer)
        if slot is None:
            slot = self._slots[peer] = asyncio.Semaphore(self.per_peer)
        async with slot:
            try:
                return await self.run_io(self._answers, address, asks)
            except PeerFetchFailed:
                self.addresses.forget(peer)
                raise

    def _answers(self, address: str, asks: list[Ask]) -> list[Buffer | None]:
        """Blocking: the answers to `asks` from `address`, on a kept connection if any."""
        for attempt in range(2):
            connection, kept = self._connect(address)
            answers: list[Buffer | None] = []
            try:
                answers = self._pipelined(connection, address, asks, answers)
            except _Cut as cut:
                connection.close()
                if kept and attempt == 0 and not cut.received and not answers:
                    continue  # a kept connection the peer had closed: once more, fresh
                reason = PEER_SHORT_READ if cut.received or answers else PEER_UNAVAILABLE
                raise PeerFetchFailed(f"{address}: {cut}", reason) from None
            except BaseException:
                connection.close()
                raise
            with self._lock:
                self._idle.setdefault(address, []).append(connection)
            return answers
        raise AssertionError("unreachable")

    def _connect(self, address: str) -> tuple[socket.socket, bool]:
        with self._lock:
            kept = self._idle.get(address)
            if kept:
                return kept.pop(), True
        host, _, port = address.rpartition(":")
        try:
            connection = socket.create_connection((host.strip("[]"), int(port)), self.timeout)
        except OSError as exc:
            raise PeerFetchFailed(f"{address} unreachable: {exc}", PEER_UNAVAILABLE) from None
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, False

    def _pipelined(
        self,
        connection: socket.socket,
        address: str,
        asks: list[Ask],
        answers: list[Buffer | None],
    ) -> list[Buffer | None]:
        """Up to PIPELINE requests sent ahead of the answers read, in order."""
        reader = _Reader(connection)
        sent = 0
        try:
            while len(answers) < len(asks):
                if sent < len(asks) and sent - len(answers) < PIPELINE:
                    ahead = asks[sent : len(answers) + PIPELINE]
                    connection.sendall(b"".join(self._request(address, ask) for ask in ahead))
                    sent += len(ahead)
                answers.append(reader.answer(address, asks[len(answers)]))
        except OSError as exc:
            raise _Cut(str(exc) or type(exc).__name__, reader.received) from None
        return answers

    def _request(self, address: str, ask: Ask) -> bytes:
        path, version, offset, length = ask
        query = f"ufsFullPath={quote(path, safe='')}&offset={offset}&length={length}"
        query += f"&size={version.size}"
        if version.mtime is not None:
            query += f"&mtime={version.mtime!r}"
        if version.etag is not None:
            query += f"&etag={quote(version.etag, safe='')}"
        return (
            f"GET {PREFIX}{file_id(path)}?{query} HTTP/1.1\r\nHost: {address}\r\n"
            f"{self.authorization}\r\n"
        ).encode("latin-1")


class _Cut(Exception):
    """The connection ended or failed; `received`: whether an answer had begun."""

    def __init__(self, message: str, received: bool) -> None:
        super().__init__(message)
        self.received = received


class _Reader:
    """Answers read off one connection: heads through a small buffer, bodies straight
    into their own buffers."""

    def __init__(self, connection: socket.socket) -> None:
        self.connection = connection
        self.buffer = bytearray()
        self.received = False  # any byte of the current answer

    def answer(self, address: str, ask: Ask) -> Buffer | None:
        self.received = False
        status, length = self._head()
        body = bytearray(length)
        view = memoryview(body)
        have = min(length, len(self.buffer))
        view[:have] = self.buffer[:have]
        del self.buffer[:have]
        while have < length:
            got = self.connection.recv_into(view[have:], length - have)
            if not got:
                raise _Cut(f"the answer ended after {have} of {length} bytes", True)
            have += got
        if status == 200:
            if length != ask[3]:
                message = f"{address} answered {length} of {ask[3]} bytes of {ask[0]}"
                raise PeerFetchFailed(message, PEER_SHORT_READ)
            return body
        if status == 404 and _reason(body) == PEER_NOT_HELD:
            return None
        message = f"{address} answered {status}: {bytes(body[:200]).decode('utf-8', 'replace')}"
        raise PeerFetchFailed(message, PEER_UNAVAILABLE)

    def _head(self) -> tuple[int, int]:
        buffer = self.buffer
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            chunk = self.connection.recv(65536)
            if not chunk:
                raise _Cut("the connection closed before an answer", bool(buffer))
            self.received = True
            buffer += chunk
        lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
        del buffer[: end + 4]
        try:
            status = int(lines[0].split(" ")[1])
            headers = dict(line.split(":", 1) for line in lines[1:])
            length = int({k.strip().lower(): v for k, v in headers.items()}["content-length"])
        except (IndexError, KeyError, ValueError):
            raise _Cut(f"not an HTTP answer: {lines[0][:100]!r}", True) from None
        return status, length


def _reason(body: bytearray) -> str | None:
    try:
        return json.loads(bytes(body)).get("reason")
    except (ValueError, AttributeError):
        return None
