"""The client's side of same-host short-circuit reads (see `dataserver.local_reads`)."""

from __future__ import annotations

import json
import mmap
import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..cluster.cache.model import clamped
from ..cluster.errors import RingcacheError
from ..cluster.worker.epoch import begun, stable
from ..cluster.worker.published import PublishedFile, PublishedView
from ..dataserver.local_reads import socket_name
from ..dataserver.unix_lines import receive_with_fds
from .data import answer_error
from .early_reads import EarlyRead, EarlyReads
from .forks import renew_in_children
from .read_notes import ReadNotes

RETRY_REMOTE_SECONDS = 30.0  # a worker not on this host is tried again after this long
ATTEMPTS = 3  # reads whose epoch moved are asked again this often before giving up
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


class LocalReads:
    """Reads cached ranges straight from the cache files of workers on this host.

    Guarantees: bytes are returned only when the worker's change epoch was the same
    before the range was located and after it was read, so no eviction, free, prune or
    TTL drop can have changed them, or when they were read from a local UFS file the
    worker handed over (the file itself: no drop changes it); `read` answers None when
    it cannot vouch for the bytes that way (the worker is not on this host, or its pages
    kept changing), and the caller reads over HTTP instead. One Unix socket per worker
    per thread (a forked child opens its own). A UFS file handed over for a range with
    more of the file after it is held (REUSE_SECONDS) and read from again without asking,
    each range read noted to the worker (`ReadNotes`), which stores it as the miss it was.
    A wholly cached file the worker published (`cluster.worker.published`) is read from
    its data file, from any thread, without asking, while the worker's table, lease and
    change epoch say it may be; each range read is noted, and counted as the hit it was.
    """

    def __init__(self, token: str | None = None) -> None:
        self.token = token  # the cluster's, sent with each request when the worker needs it
        self._local = threading.local()
        self._remote: dict[str, float] = {}  # socket name -> when it was last found remote
        self._epochs: dict[str, mmap.mmap] = {}
        self._early = EarlyReads()
        self._notes = ReadNotes(token)
        # Per worker: its table of files to read without asking, and its socket's name.
        self._published: dict[str, tuple[PublishedView, str]] = {}
        self._lock = threading.Lock()
        renew_in_children(self)

    def after_fork(self) -> None:
        """In a forked child: the sockets of the thread that forked are the parent's."""
        for sock in self._local.__dict__.pop("sockets", {}).values():
            sock.close()
        self._lock = threading.Lock()

    def read_held(self, worker_id: str, uri: str, offset: int, length: int | None) -> bytes | None:
        """The range from a descriptor this thread holds of the file, without asking the
        worker, while that is still right (see `_reread`); else None (and it is let go)."""
        holds = self._held()
        key = (worker_id, uri)
        held = holds.get(key)
        if held is None:
            return self._read_published(worker_id, uri, offset, length)
        data = self._reread(held, uri, offset, length)
        if data is not None:
            holds.move_to_end(key)  # most recently used last
            return data
        del holds[key]
        os.close(held.fd)
        return None

    def read(
        self, worker_id: str, uri: str, offset: int, length: int | None, address: str
    ) -> bytes | None:
        """The range from the worker whose data server is at `address` (`host:port`, as
        it publishes it), if it is on this host; else None."""
        data = self.read_held(worker_id, uri, offset, length)
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
            if "published" in reply and worker_id not in self._published:
                self._look_in(worker_id, name, reply["published"], reply["epochFile"])
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
                data = _pread_all(fd, reply["length"], reply["offset"])
            except BaseException:
                os.close(fd)
                raise
            if begun(shared) == reply["epoch"]:
                if "whole" in reply:
                    base, size = reply["whole"]
                    until = time.monotonic() + REUSE_SECONDS
                    self._hold(
                        (worker_id, uri),
                        Held(fd, base, size, reply["epoch"], shared, until, notes_to=name),
                    )
                else:
                    os.close(fd)
                return data
            os.close(fd)
        return None  # pages kept being dropped while read: let HTTP answer

    def published(self, worker_id: str, uri: str) -> PublishedFile | None:
        """The file as the worker published it (where its bytes are, its cached version),
        if it did and the entry is valid now; else None."""
        published = self._published.get(worker_id)
        return None if published is None else published[0].find(uri)

    def _read_published(
        self, worker_id: str, uri: str, offset: int, length: int | None
    ) -> bytes | None:
        """The range from the file's data file, if its owner published it as readable
        without asking (`cluster.worker.published`) and no page was dropped meanwhile;
        noted to the owner, which counts the hit. Else None."""
        published = self._published.get(worker_id)
        if published is None:
            return None
        view, name = published
        found = view.find(uri)
        if found is None:
            return None
        size = found.size
        start, end = clamped(offset, length, size)
        try:
            fd = os.open(found.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:  # gone meanwhile, or not this process's to open: ask
            return None
        try:
            data = _pread_all(fd, end - start, found.base + start)
        except OSError:
            os.close(fd)
            return None
        if not view.still(found):
            os.close(fd)
            return None
        if end > start:
            self._notes.note(name, uri, start, end - start, served=True)
        until = time.monotonic() + REUSE_SECONDS  # read on from it, as from one handed over
        held = Held(fd, found.base, size, found.epoch, view.epoch, until, notes_to=name)
        self._hold((worker_id, uri), held)
        return data

    def _look_in(self, worker_id: str, name: str, path: str, epoch_file: str) -> None:
        """From now on, look in the table at `path` before asking `worker_id` (if this
        process may map it and the worker's change epoch, in `epoch_file`)."""
        try:
            epoch = self._epoch(epoch_file)
        except OSError:
            return
        view = PublishedView.open(path, epoch)
        if view is not None:
            with self._lock:
                self._published.setdefault(worker_id, (view, name))

    def _held(self) -> Holds:
        try:
            return self._local.held
        except AttributeError:  # this thread's first
            holds = self._local.held = Holds()
            return holds

    def _hold(self, key: tuple[str, str], held: Held) -> None:
        holds = self._held()
        old = holds.pop(key, None)
        if old is not None:
            os.close(old.fd)
        holds[key] = held
        while len(holds) > HELD_PER_THREAD:
            os.close(holds.popitem(last=False)[1].fd)

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
                data = _pread_all(fd, length, offset)
        except BaseException:
            os.close(fd)
            raise
        if size is None or offset + length >= size:
            os.close(fd)
        else:
            until = time.monotonic() + REUSE_SECONDS
            self._hold(key, Held(fd, 0, size, None, None, until, notes_to=name))
        return data

    def _reread(self, held: Held, uri: str, offset: int, length: int | None) -> bytes | None:
        """The range from a held descriptor, if it is not too old and, of a cache file,
        nothing was dropped since it was handed over (checked before and after reading);
        else None. What is read is noted to its owner."""
        shared = held.shared
        if time.monotonic() > held.until or (shared is not None and stable(shared) != held.epoch):
            return None
        start, end = clamped(offset, length, held.size)
        if shared is not None:
            data = _pread_all(held.fd, end - start, held.base + start)
            if begun(shared) != held.epoch:
                return None
        else:
            try:
                data = _pread_all(held.fd, end - start, start)
            except OSError:  # the UFS file is shorter now: ask its owner
                return None
        if end > start:
            self._notes.note(held.notes_to, uri, start, end - start, served=shared is not None)
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


def _pread_all(fd: int, length: int, offset: int) -> bytes:
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
