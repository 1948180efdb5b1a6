"""Same-host peer copies: a worker hands a peer on its host its open data files, so the
peer's kernel copies the pages (splice through a pipe) as it copies a local UFS file.

A peer connects to the worker's Unix socket for peers (abstract namespace, named after
the worker id: a peer on another host or network namespace cannot reach it, and falls
back to HTTP) and sends one JSON line per call:
`{"asks": [[URI, size, mtime, etag, offset, length], ...], "token": ...}` (the token
when the worker was given one), at most MAX_ASKS ranges. The worker answers one line:

- `{"epoch": n, "ranges": [[i, offset, length] | null, ...]}` with descriptors attached
  (SCM_RIGHTS): the first, of its `ChangeEpoch` file, then one per data file; range `k`
  is `length` bytes at `offset` of descriptor `i` (null: not held whole at that version).
  They are the right bytes while the epoch's `begun` stays `n` (taken, with no drop in
  flight, before the ranges were located): a peer copies them, then checks it;
- `{"status": message, "code": n}` otherwise (401: no token; 409: pages are being
  dropped; 400: a bad call): the peer asks over HTTP instead.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import socket

from ..cluster.cache.store import PageStore
from ..cluster.clock import Clock
from ..cluster.errors import InvalidArgument
from ..cluster.ufs.filesystem import FileVersion
from ..cluster.worker.epoch import ChangeEpoch
from .peer_api import holds_version, parse_version
from .unix_lines import UnixLineServer, json_line, send_with_fds

log = logging.getLogger(__name__)

MAX_ASKS = 128  # ranges per call: their descriptors stay well under SCM_MAX_FD (253)
MAX_LINE = 1 << 20  # bytes of a call's line


def handover_socket_name(worker_id: str, port: int | str) -> str:
    """The abstract Unix socket a worker hands its data files to peers on, named after its
    id and its data server's `port` (published in its data address): two clusters on one
    host whose workers share ids do not meet."""
    return f"\0ringcache-peer-pages-{worker_id}-{port}"


class PeerHandoverServer:
    """Hands peers on this host the data files holding cached ranges of one worker.

    Guarantees: with a `token`, a call without it is answered 401 and nothing else; a
    range is handed only if every page of it is held at the version named, located with
    the epoch stable before (a peer that finds `begun` unchanged after copying copied the
    right bytes); no range at all while a drop is in flight; one peer's failure never
    stops the server.
    """

    def __init__(
        self,
        store: PageStore,
        clock: Clock,
        epoch: ChangeEpoch,
        worker_id: str,
        token: str | None = None,
        *,
        port: int | str,
    ) -> None:
        self.store = store
        self.clock = clock
        self.epoch = epoch
        self.token = token
        name = handover_socket_name(worker_id, port)  # `port`: its data server's
        self.server = UnixLineServer(name, self._answer, MAX_LINE)
        self._epoch_fd = -1

    async def start(self) -> None:
        try:
            await self.server.start()
        except OSError as exc:  # another of this id here: peers copy over HTTP instead
            log.warning("peer handover: cannot listen on %r: %s", self.server.name[1:], exc)
            return
        self._epoch_fd = os.open(self.epoch.path, os.O_RDONLY)

    async def stop(self) -> None:
        await self.server.stop()
        if self._epoch_fd >= 0:
            os.close(self._epoch_fd)
            self._epoch_fd = -1

    async def _answer(self, loop: asyncio.AbstractEventLoop, peer: socket.socket, line: bytes):
        # Before locating: a drop begun after it shows as a new `begun`; none in flight.
        seen = self.epoch.stable()
        try:
            call = json.loads(line)
            if not isinstance(call, dict):
                raise InvalidArgument("a call is a JSON object")
            if self.token is not None and not hmac.compare_digest(
                str(call.get("token", "")), self.token
            ):
                reply = {"status": "a peer handover needs the cluster's token", "code": 401}
                return await loop.sock_sendall(peer, json_line(reply))
            asks = _asks(call.get("asks"))
        except (ValueError, InvalidArgument) as exc:
            return await loop.sock_sendall(peer, json_line({"status": str(exc), "code": 400}))
        if seen is None:
            reply = {"status": "pages are being dropped: ask over HTTP", "code": 409}
            return await loop.sock_sendall(peer, json_line(reply))
        # Locating is bookkeeping under the store's lock, opening a file a system call.
        files: dict[str, int] = {}  # data file -> its descriptor's position
        fds = [self._epoch_fd]
        ranges: list[list[int] | None] = []
        try:
            for uri, version, offset, length in asks:
                where = self._locate(uri, version, offset, length)
                if where is None or isinstance(where, list):
                    ranges.append(where)
                    continue
                path, start = where
                if path not in files:
                    try:
                        fds.append(os.open(path, os.O_RDONLY))
                    except FileNotFoundError:  # removed since located
                        ranges.append(None)
                        continue
                    files[path] = len(fds) - 1
                ranges.append([files[path], start, length])
            reply = {"epoch": seen, "ranges": ranges}
            await send_with_fds(loop, peer, json_line(reply), fds)
        finally:
            for fd in fds[1:]:
                os.close(fd)

    def _locate(
        self, uri: str, version: FileVersion, offset: int, length: int
    ) -> tuple[str, int] | list[int] | None:
        """`(data file, offset)` of a held range; `[0, 0, 0]` for an empty one (nothing to
        copy); None if not held whole at `version`."""
        store = self.store
        if not holds_version(store, uri, version):
            return None
        if length == 0:
            return [0, 0, 0]
        found = store.span(uri, offset, length, self.clock.now())
        if found is None or found.length != length or not holds_version(store, uri, version):
            return None  # (a medium without files has no change epoch: no server here)
        return found.path, found.offset


def _asks(value: object) -> list[tuple[str, FileVersion, int, int]]:
    if not isinstance(value, list) or not 0 < len(value) <= MAX_ASKS:
        raise InvalidArgument(f"asks must be a list of 1 to {MAX_ASKS} ranges")
    asks = []
    for ask in value:
        try:
            uri, size, mtime, etag, offset, length = ask
        except (TypeError, ValueError):
            raise InvalidArgument("an ask is [URI, size, mtime, etag, offset, length]") from None
        if not isinstance(uri, str) or not uri:
            raise InvalidArgument(f"a URI must be a string, not {uri!r}")
        for name, number in (("size", size), ("offset", offset), ("length", length)):
            if type(number) is not int or number < 0:
                raise InvalidArgument(f"{name} must be an integer >= 0, not {number!r}")
        version = parse_version(str(size), mtime, etag)
        if offset + length > version.size:
            raise InvalidArgument(f"{offset}+{length} is past the end ({version.size})")
        asks.append((uri, version, offset, length))
    return asks
