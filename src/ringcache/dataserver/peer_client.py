"""`PeerPages` over HTTP: a worker reads a peer's cached pages from the peer's data server
(`/v1/peer/range`, see `peer_api`), on kept-alive connections, in threads.

Each exchange is blocking socket I/O on an I/O thread: the request goes out in one send,
and requests for bundles of small files are pipelined on one connection. `receive` and
`receive_whole` hand the open answer to the caller's sink on that thread, which stores
the pages as they arrive (`SocketStream`: spliced socket -> pipe -> data file, so they
never enter Python); `fetch` and `fetch_whole` read bodies into buffers (`recv_into`).
A peer on this host hands its data files over instead (`hand_over`, `peer_handover`): the
pages are then copied by the kernel, and never cross a socket.

The threads are this client's own. A thread that waits on a peer must never hold one the
worker's own work needs: two workers fetching from each other (or a peer in the same
process) would each wait for an answer its peer cannot make, its threads all waiting too.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar
from urllib.parse import quote

from ..cluster.cache.page_io import ArrivingFile, SocketStream
from ..cluster.ufs.filesystem import FileVersion
from ..cluster.worker.peers import (
    PEER_NOT_HELD,
    PEER_SHORT_READ,
    PEER_UNAVAILABLE,
    Ask,
    Buffer,
    FileSink,
    Handed,
    PeerAddresses,
    PeerFetchFailed,
    RangeSink,
)
from .alluxio import file_id
from .http11 import MAX_HEAD
from .peer_answers import AnswerReader, Cut, SinkFailed, answer_bytes, receive_files, sunk
from .peer_api import FILES, RANGE
from .peer_handover_client import SameHostPeers

PER_PEER = 4  # exchanges in flight with one peer (and connections kept to it)
IO_THREADS = 32  # exchanges in flight in all (the rest wait their turn)
PIPELINE = 16  # requests sent ahead of the answers read
PIPELINE_BYTES = 32 * 1024  # bytes of requests sent ahead (but at least one request)
TIMEOUT = 30.0  # seconds a peer may leave a connection silent
HEAD_BUDGET = MAX_HEAD - 1024  # bytes of file list per files call (the rest: its headers)

T = TypeVar("T")
Read = Callable[[AnswerReader, int], T]  # takes answer number `int` off a connection


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
        io_threads: int = IO_THREADS,
        handover: bool = True,
    ) -> None:
        self.addresses = addresses
        self.authorization = f"Authorization: Bearer {token}\r\n" if token else ""
        self.per_peer = per_peer
        self.timeout = timeout
        self._threads = ThreadPoolExecutor(io_threads, thread_name_prefix="peer-io")
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._idle: dict[str, list[socket.socket]] = {}
        self._lock = threading.Lock()
        # None (`[worker] peer_handover = false`): peers are reached over HTTP only.
        self.same_host = SameHostPeers(token) if handover else None

    async def hand_over(self, peer: str, asks: list[Ask]) -> Handed | None:
        """The peer's data files holding `asks`, when it is on this host (`peer_handover`):
        its pages copied by the kernel, as a local UFS file's are; else None (always, with
        hand-overs off)."""
        if not asks or self.same_host is None:
            return None
        try:
            address = await self.addresses.resolve(peer)
        except PeerFetchFailed:
            return None  # no data server known: nothing of it on this host either
        async with self._slot(peer):
            loop = asyncio.get_running_loop()
            hand_over = self.same_host.hand_over
            asked = loop.run_in_executor(self._threads, hand_over, peer, address, asks)
            try:
                return await asyncio.shield(asked)
            except asyncio.CancelledError:  # no one will copy them: close what comes
                asked.add_done_callback(_close_handed)
                raise

    async def fetch(
        self, peer: str, path: str, version: FileVersion, offset: int, length: int
    ) -> Buffer:
        target = _range(path, version, offset, length)
        ((status, body),) = await self._exchange(peer, [target], AnswerReader.answer)
        data = answer_bytes(peer, path, version, length, status, body)
        if data is None:
            raise PeerFetchFailed(f"{peer} does not hold {path} at {version}", PEER_NOT_HELD)
        return data

    async def receive(
        self,
        peer: str,
        path: str,
        version: FileVersion,
        offset: int,
        length: int,
        sink: RangeSink,
    ) -> bool:
        def read(reader: AnswerReader, _: int) -> PeerFetchFailed | None:
            status, size = reader.head()
            if status != 200:  # raises unless the peer does not hold it: then that
                answer_bytes(peer, path, version, length, status, reader.body(size))
                return PeerFetchFailed(f"{peer} does not hold {path} at {version}", PEER_NOT_HELD)
            if size != length:
                raise Cut(f"{peer} answered {size} of {length} bytes of {path}", True)
            stream = SocketStream(reader.connection, reader.buffer, length)
            sunk(stream, sink, ArrivingFile(stream, 0, length))
            return None

        target = _range(path, version, offset, length)
        (refused,) = await self._exchange(peer, [target], read)
        if refused is not None:
            raise refused
        return True

    async def fetch_whole(
        self, peer: str, files: list[tuple[str, FileVersion]]
    ) -> list[Buffer | None]:
        answers: list[Buffer | None] = [None] * len(files)

        def keep(i: int, arriving: ArrivingFile) -> None:
            answers[i] = arriving.stream.read(arriving.length)

        await self.receive_whole(peer, files, keep)  # type: ignore[arg-type]
        return answers

    async def receive_whole(
        self, peer: str, files: list[tuple[str, FileVersion]], sink: FileSink
    ) -> bool:
        # As many files per call as its head holds: one answer carries them all.
        groups: list[list[tuple[str, FileVersion]]] = [[]]
        room = 0
        for path, version in files:
            cost = len(quote(json.dumps([path, *version]), safe="")) + 3
            if groups[-1] and room + cost > HEAD_BUDGET:
                groups.append([])
                room = 0
            groups[-1].append((path, version))
            room += cost
        targets = [
            f"{FILES}?files=" + quote(json.dumps([[p, *v] for p, v in group]), safe="")
            for group in groups
        ]
        firsts = [0]
        for group in groups[:-1]:
            firsts.append(firsts[-1] + len(group))

        def read(reader: AnswerReader, number: int) -> None:
            receive_files(peer, reader, groups[number], firsts[number], sink)

        await self._exchange(peer, targets, read)
        return True

    def close(self) -> None:
        """Close every kept connection and end the I/O threads."""
        with self._lock:
            kept, self._idle = self._idle, {}
        for connections in kept.values():
            for connection in connections:
                connection.close()
        if self.same_host is not None:
            self.same_host.close()
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def _exchange(self, peer: str, targets: list[str], read: Read[T]) -> list[T]:
        """What `read` made of each answer to GETs of `targets` from `peer`, in order
        (`read(reader, number)` takes answer `number` off the connection)."""
        address = await self.addresses.resolve(peer)
        slot = self._slot(peer)
        requests = [
            f"GET {target} HTTP/1.1\r\nHost: {address}\r\n{self.authorization}\r\n".encode()
            for target in targets
        ]
        async with slot:
            try:
                loop = asyncio.get_running_loop()
                answers = self._answers
                return await loop.run_in_executor(self._threads, answers, address, requests, read)
            except PeerFetchFailed:
                self.addresses.forget(peer)
                raise

    def _slot(self, peer: str) -> asyncio.Semaphore:
        slot = self._slots.get(peer)
        if slot is None:
            slot = self._slots[peer] = asyncio.Semaphore(self.per_peer)
        return slot

    def _answers(self, address: str, requests: list[bytes], read: Read[T]) -> list[T]:
        """Blocking: the answers to `requests` from `address`, on a kept connection if any."""
        for attempt in range(2):
            connection, kept = self._connect(address)
            answers: list[T] = []
            try:
                self._pipelined(connection, requests, answers, read)
            except SinkFailed as failed:  # the connection is mid-answer: not kept
                connection.close()
                raise failed.error from None
            except Cut as cut:
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

    @staticmethod
    def _pipelined(
        connection: socket.socket, requests: list[bytes], answers: list[T], read: Read[T]
    ) -> None:
        """Requests sent ahead of the answers read (up to PIPELINE of them, PIPELINE_BYTES
        at most but one: a server answers one at a time, so neither side waits on the
        other's full buffers), the answers read into `answers`."""
        reader = AnswerReader(connection)
        sent = 0
        try:
            while len(answers) < len(requests):
                ahead, size = [], 0
                while sent < len(requests) and sent - len(answers) < PIPELINE:
                    if ahead and size + len(requests[sent]) > PIPELINE_BYTES:
                        break
                    ahead.append(requests[sent])
                    size += len(requests[sent])
                    sent += 1
                if ahead:
                    connection.sendall(b"".join(ahead))
                answers.append(read(reader, len(answers)))
        except OSError as exc:
            raise Cut(str(exc) or type(exc).__name__, reader.received) from None


def _close_handed(asked: asyncio.Future) -> None:
    if not asked.cancelled() and asked.exception() is None and asked.result() is not None:
        asked.result().close()


def _range(path: str, version: FileVersion, offset: int, length: int) -> str:
    """The target of a range call (`peer_api`)."""
    query = f"ufsFullPath={quote(path, safe='')}&offset={offset}&length={length}"
    query += f"&size={version.size}"
    if version.mtime is not None:
        query += f"&mtime={version.mtime!r}"
    if version.etag is not None:
        query += f"&etag={quote(version.etag, safe='')}"
    return f"{RANGE}{file_id(path)}?{query}"
