"""The copying side of same-host peer copies (see `peer_handover`): a peer's data files,
handed over open, with the check that says whether a copy of them is right."""

from __future__ import annotations

import json
import logging
import mmap
import os
import socket
import threading
import time

from ..cluster.cache.page_io import FileRange
from ..cluster.worker.epoch import begun
from ..cluster.worker.peers import Ask
from .peer_handover import MAX_ASKS, handover_socket_name
from .unix_lines import receive_with_fds

log = logging.getLogger(__name__)

RETRY_REMOTE_SECONDS = 30.0  # a peer not found on this host is tried again after this long
TIMEOUT = 30.0  # seconds a peer may take to answer


class HandedFiles:
    """Ranges of a peer's data files, open here (`Handed`); `close` once copied."""

    def __init__(self, ranges: list[FileRange | None], fds: list[int], epoch: int) -> None:
        self.ranges = ranges
        self._fds = fds
        self._epoch = epoch
        self._shared = mmap.mmap(fds[0], 16, prot=mmap.PROT_READ)  # the peer's ChangeEpoch

    def unchanged(self) -> bool:
        return begun(self._shared) == self._epoch

    def joined(self, later: HandedFiles) -> HandedFiles:
        """These ranges then `later`'s, vouched for by this epoch (taken first)."""
        self.ranges = self.ranges + later.ranges
        self._fds = self._fds + later._fds
        later._shared.close()
        later._fds = []
        return self

    def close(self) -> None:
        if self._fds:
            self._shared.close()
            for fd in self._fds:
                os.close(fd)
            self._fds = []


class SameHostPeers:
    """Asks peers on this host for their data files; blocking (call it on an I/O thread).

    Guarantees: `hand_over` answers ranges only as the peer located them, with its epoch
    to check them by, else None (the peer is not on this host, is dropping pages, refused,
    or went away: HTTP answers, and says which); connections are kept for the next call.
    """

    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self._idle: dict[str, list[socket.socket]] = {}
        self._remote: dict[str, float] = {}  # socket -> when it was last found elsewhere
        self._lock = threading.Lock()

    def hand_over(self, peer: str, address: str, asks: list[Ask]) -> HandedFiles | None:
        """`asks` in calls of up to MAX_ASKS ranges, as one answer (checked by the epoch
        of the first: `begun` never goes down, so it vouches for them all)."""
        name = handover_socket_name(peer, address.rpartition(":")[2])  # `address`: its data's
        if time.monotonic() - self._remote.get(name, float("-inf")) < RETRY_REMOTE_SECONDS:
            return None
        handed: HandedFiles | None = None
        for at in range(0, len(asks), MAX_ASKS):
            more = self._call(peer, name, asks[at : at + MAX_ASKS])
            if more is None:
                if handed is not None:
                    handed.close()
                return None
            handed = more if handed is None else handed.joined(more)
        return handed

    def _call(self, peer: str, name: str, asks: list[Ask]) -> HandedFiles | None:
        call: dict[str, object] = {
            "asks": [[path, *version, offset, length] for path, version, offset, length in asks]
        }
        if self.token is not None:
            call["token"] = self.token
        request = json.dumps(call, separators=(",", ":")).encode() + b"\n"
        for attempt in range(2):
            sock, kept = self._connect(name)
            if sock is None:
                return None
            try:
                sock.sendall(request)
                line, fds = _receive(sock, len(asks) + 1)
            except OSError as exc:
                sock.close()
                if kept and attempt == 0:
                    continue  # a kept connection the peer had closed: once more, fresh
                log.info("peer handover from %s failed: %s", peer, exc)
                return None
            with self._lock:
                self._idle.setdefault(name, []).append(sock)
            return _handed(peer, line, fds, asks)
        return None

    def close(self) -> None:
        with self._lock:
            kept, self._idle = self._idle, {}
        for sockets in kept.values():
            for sock in sockets:
                sock.close()

    def _connect(self, name: str) -> tuple[socket.socket | None, bool]:
        with self._lock:
            kept = self._idle.get(name)
            if kept:
                return kept.pop(), True
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(TIMEOUT)
        try:
            sock.connect(name)
        except OSError:  # not on this host (or not serving hand-overs): HTTP it is
            sock.close()
            self._remote[name] = time.monotonic()
            return None, False
        return sock, False


def _handed(peer: str, line: bytes, fds: list[int], asks: list[Ask]) -> HandedFiles | None:
    """The answer `line` with its descriptors `fds` as handed ranges; None (and the
    descriptors closed) if it hands none."""
    try:
        reply = json.loads(line)
        if isinstance(reply, dict) and "ranges" not in reply:
            log.info("peer handover from %s refused: %s", peer, reply.get("status"))
        else:
            ranges = [None if where is None else _range(fds, *where) for where in reply["ranges"]]
            if len(ranges) != len(asks) or any(
                where is not None and where.length != ask[3]
                for where, ask in zip(ranges, asks, strict=True)
            ):
                raise ValueError(f"{len(ranges)} ranges answered for {len(asks)} asked")
            return HandedFiles(ranges, fds, int(reply["epoch"]))
    except (ValueError, TypeError, IndexError, KeyError, OSError) as exc:
        log.warning("peer handover from %s: a bad answer: %s", peer, exc)
    for fd in fds:
        os.close(fd)
    return None


def _range(fds: list[int], position: int, offset: int, length: int) -> FileRange:
    if type(position) is not int or not 0 <= position < len(fds):
        raise ValueError(f"no descriptor {position!r} handed")
    return FileRange(fds[position], offset, length)


def _receive(sock: socket.socket, most_fds: int) -> tuple[bytes, list[int]]:
    """One answer line and the descriptors that came with it."""
    line, fds, rest = receive_with_fds(sock, most_fds)
    if rest:  # one answer per call: anything after it is a broken peer's
        for fd in fds:
            os.close(fd)
        raise ConnectionResetError("the peer answered more than asked")
    return line, fds
