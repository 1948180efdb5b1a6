"""The client's side of same-host short-circuit reads (see `dataserver.local_reads`)."""

from __future__ import annotations

import json
import mmap
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ..cluster.errors import RingcacheError
from ..cluster.worker.epoch import begun
from ..cluster.worker.published import PublishedFile
from ..dataserver.local_reads import socket_name
from ..dataserver.unix_lines import receive_with_fds
from .data import answer_error
from .direct_reads import DirectReads
from .early_reads import EarlyRead, EarlyReads
from .forks import renew_in_children
from .held_files import HeldFiles, pread_all
from .published_reads import PublishedReads
from .read_notes import ReadNotes

RETRY_REMOTE_SECONDS = 30.0  # a worker not on this host is tried again after this long
ATTEMPTS = 3  # reads whose epoch moved are asked again this often before giving up


class LocalReads:
    """Reads cached ranges straight from the cache files of workers on this host.

    Guarantees: bytes are returned only when the worker's change epoch was the same
    before the range was located and after it was read, so no eviction, free, prune or
    TTL drop can have changed them, or when they were read from a local UFS file the
    worker handed over (the file itself: no drop changes it); `read` answers None when
    it cannot vouch for the bytes that way (the worker is not on this host, or its pages
    kept changing), and the caller reads over HTTP instead. One Unix socket per worker
    per thread (a forked child opens its own). A UFS file handed over for a range with
    more of the file after it, and a wholly cached file's, is held (`HeldFiles`) and read
    from again without asking, each range read noted to the worker (`ReadNotes`), which
    stores it as the miss it was (or counts the hit). A wholly cached file the worker
    published is read from its data file, from any thread, without asking
    (`PublishedReads`); so is a local UFS file its owner records nothing of, once it
    allowed that in a miss's answer (`DirectReads`), and noted to it the same way.
    """

    def __init__(self, token: str | None = None) -> None:
        self.token = token  # the cluster's, sent with each request when the worker needs it
        self._local = threading.local()
        self._remote: dict[str, float] = {}  # socket name -> when it was last found remote
        self._epochs: dict[str, mmap.mmap] = {}
        self._early = EarlyReads()
        self._notes = ReadNotes(token)
        self.held = HeldFiles(self._notes)
        self.tables = PublishedReads(self.held, self._notes)
        self.direct = DirectReads(self.held, self._notes, self.tables)
        self._lock = threading.Lock()
        renew_in_children(self)

    def after_fork(self) -> None:
        """In a forked child: the sockets of the thread that forked are the parent's."""
        for sock in self._local.__dict__.pop("sockets", {}).values():
            sock.close()
        self._lock = threading.Lock()

    def read_held(self, worker_id: str, uri: str, offset: int, length: int | None) -> bytes | None:
        """The range without asking the worker: from a descriptor this thread holds of the
        file, or from the file's data file if the worker published it; else None."""
        data = self.held.read((worker_id, uri), offset, length)
        return data if data is not None else self._read_published(worker_id, uri, offset, length)

    def read(
        self,
        worker_id: str,
        uri: str,
        offset: int,
        length: int | None,
        address: str,
        *,
        held_tried: bool = False,
    ) -> bytes | None:
        """The range from the worker whose data server is at `address` (`host:port`, as
        it publishes it), if it is on this host; else None. `held_tried`: the caller
        found just now that `read_held` has no answer."""
        data = None if held_tried else self.read_held(worker_id, uri, offset, length)
        if data is None:
            data = self._read_direct(worker_id, uri, offset, length)
        if data is not None:
            return data
        connected = self._connected(worker_id, address)
        if connected is None:
            return None
        name, sock = connected
        request = self._request({"path": uri, "offset": offset, "length": length})
        try:
            sock.sendall(request)
        except OSError:
            self._forget(name)
            return None
        with self._exchange(name):
            # Once the owner has the request: it answers on another core meanwhile.
            early = self._early.begin(worker_id, uri, offset, length)
            return self._ask(sock, name, worker_id, uri, request, early)

    def info(self, worker_id: str, uri: str, address: str) -> dict | None:
        """The file's entry (as `GET /v1/info` answers it) from the worker whose data
        server is at `address`, if it is on this host; else None."""
        connected = self._connected(worker_id, address)
        if connected is None:
            return None
        name, sock = connected
        with self._exchange(name):
            try:
                sock.sendall(self._request({"path": uri, "info": True}))
                line, fds, _ = receive_with_fds(sock, 1)
            except OSError:
                self._forget(name)
                return None
        for fd in fds:  # none is sent with an entry
            os.close(fd)
        reply = json.loads(line)
        if "code" in reply:
            raise answer_error(reply["code"], reply["status"], reply.get("reason"))
        return reply["entry"]

    def flush_notes(self) -> None:
        """Send now what was read from held UFS files and not yet told their owners."""
        self._notes.flush()

    def _ask(
        self,
        sock: socket.socket,
        name: str,
        worker_id: str,
        uri: str,
        request: bytes,
        early: EarlyRead | None,
    ) -> bytes | None:
        """Ask (again) until the answer can be vouched for; the first request is sent."""
        for attempt in range(ATTEMPTS):
            try:
                if attempt:
                    sock.sendall(request)
                line, fds, rest = receive_with_fds(sock, 1)
                fd = fds[0] if fds else None
            except OSError:
                self._forget(name)
                return None
            reply = json.loads(line)
            if "code" in reply:
                raise answer_error(reply["code"], reply["status"], reply.get("reason"))
            self._early.answered(worker_id, bool(reply.get("ufs")))
            if "published" in reply and not self.tables.knows(worker_id):
                self._look_in(worker_id, name, reply["published"], reply["epochFile"])
            if "direct" in reply:
                self._take_grant(worker_id, name, reply["direct"])
            if fd is None:
                try:
                    return _read_bytes(sock, rest, reply["bytes"])
                except OSError:  # cut short (a streamed miss failed): read over HTTP
                    self._forget(name)
                    return None
            if reply.get("ufs"):  # a local UFS file: no drop from the cache changes it
                return self._from_ufs(fd, (worker_id, uri), name, reply, early)
            shared = self._epoch(reply["epochFile"])
            try:
                data = pread_all(fd, reply["length"], reply["offset"])
            except BaseException:
                os.close(fd)
                raise
            if begun(shared) == reply["epoch"]:
                if "whole" in reply:
                    base, size = reply["whole"]
                    key = (worker_id, uri)
                    self.held.hold(
                        key, fd, size, name, base=base, epoch=reply["epoch"], shared=shared
                    )
                else:
                    os.close(fd)
                return data
            os.close(fd)
        return None  # pages kept being dropped while read: let HTTP answer

    def unasked_stat(self, worker_id: str, uri: str) -> os.stat_result | None:
        """The status of a local UFS file the worker records nothing of and allows reading
        unasked (`DirectReads.stat`), taken here; else None."""
        return self.direct.stat(worker_id, uri)

    def published(self, worker_id: str, uri: str) -> PublishedFile | None:
        """The file as the worker published it, if it did and the entry is valid now."""
        return self.tables.find(worker_id, uri)

    def _read_published(
        self, worker_id: str, uri: str, offset: int, length: int | None
    ) -> bytes | None:
        return self.tables.read(worker_id, uri, offset, length)

    def _read_direct(
        self, worker_id: str, uri: str, offset: int, length: int | None
    ) -> bytes | None:
        return self.direct.read(worker_id, uri, offset, length)

    def _take_grant(self, worker_id: str, name: str, direct: dict) -> None:
        """From now on, read the local UFS files `direct` allows without asking."""
        self.direct.grant(worker_id, name, direct)

    def _look_in(self, worker_id: str, name: str, path: str, epoch_file: str) -> None:
        """From now on, look in the published table at `path` before asking `worker_id`
        (if this process may map it and the worker's change epoch, in `epoch_file`)."""
        try:
            epoch = self._epoch(epoch_file)
        except OSError:
            return
        self.tables.look_in(worker_id, name, path, epoch)

    def _from_ufs(
        self, fd: int, key: tuple[str, str], name: str, reply: dict, early: EarlyRead | None
    ) -> bytes:
        """The range of the local UFS file handed over (`fd`), unless the `early` read read
        it from the same file already; the file held if there is more of it after the
        range (to be read on without asking), else closed."""
        offset, length, size = reply["offset"], reply["length"], reply.get("size")
        try:
            data = None if early is None else early.take(fd, offset, length)
            if data is None:
                data = pread_all(fd, length, offset)
        except BaseException:
            os.close(fd)
            raise
        if size is None or offset + length >= size:
            os.close(fd)
        else:
            self.held.hold(key, fd, size, name)
        return data

    @contextmanager
    def _exchange(self, name: str) -> Iterator[None]:
        """A request and its answer on this thread's socket `name`: if it ends half-way
        (a signal, an interrupt), the socket is let go, so an answer left unread on it is
        never taken for the next request's (an error answered whole leaves it ready)."""
        try:
            yield
        except RingcacheError:
            raise
        except BaseException:
            self._forget(name)
            raise

    def _connected(self, worker_id: str, address: str) -> tuple[str, socket.socket] | None:
        """This thread's socket to the worker at `address` (`host:port`, as it publishes
        it) and its name, if the worker is on this host; else None."""
        name = socket_name(worker_id, address.rpartition(":")[2])
        if time.monotonic() - self._remote.get(name, float("-inf")) < RETRY_REMOTE_SECONDS:
            return None
        sock = self._socket(name)
        return None if sock is None else (name, sock)

    def _request(self, asked: dict[str, object]) -> bytes:
        if self.token is not None:
            asked["token"] = self.token
        return (json.dumps(asked) + "\n").encode()

    def _socket(self, name: str) -> socket.socket | None:
        sockets = self._local.__dict__.setdefault("sockets", {})
        sock = sockets.get(name)
        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(name)
            except OSError:
                sock.close()
                self._remote[name] = time.monotonic()
                return None
            sockets[name] = sock
        return sock

    def _forget(self, name: str) -> None:
        sock = self._local.__dict__.get("sockets", {}).pop(name, None)
        if sock is not None:
            sock.close()

    def _epoch(self, path: str) -> mmap.mmap:
        with self._lock:
            shared = self._epochs.get(path)
            if shared is None:
                fd = os.open(path, os.O_RDONLY)
                try:
                    shared = self._epochs[path] = mmap.mmap(fd, 16, prot=mmap.PROT_READ)
                finally:
                    os.close(fd)
            return shared


def _read_bytes(sock: socket.socket, rest: bytes, size: int) -> bytes:
    chunks, got = [rest], len(rest)
    while got < size:
        chunk = sock.recv(min(size - got, 1 << 20))
        if not chunk:
            raise ConnectionResetError("the worker closed the socket mid-answer")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
