"""Same-host short-circuit reads: the worker hands the client an open cache file.

A client on the worker's host connects to the worker's Unix socket (in the abstract
namespace, named after the worker id and its data server's port, both of which the worker
publishes, so it needs no path, vanishes with the process, and two clusters on one host
whose workers share ids never share a socket)
and sends one JSON line per read: `{"path": URI, "offset": n, "length": n|null}`, with
`"token"` (the cluster's) when the worker was given one, else it is answered 401. The
worker answers one JSON line:

- `{"offset", "length", "epoch", "epochFile", "published"[, "whole"]}` with the data
  file's descriptor attached (SCM_RIGHTS): the client reads the bytes itself, then checks
  the `ChangeEpoch` in `epochFile` still begun `epoch` (else a page may have been dropped
  meanwhile: it asks again, or over HTTP). `whole` (`[offset, length]` of the whole file
  in the data file) says every page is cached and may be read again from the descriptor,
  without asking, while the epoch stays put; `published` names the worker's table of
  wholly cached files (`cluster.worker.published`), which the client may look in before
  asking for any file again. `ufs`
  says the descriptor is of a local UFS file read through (none of the range cached yet),
  `size` bytes long as opened: no drop from the cache changes its bytes, no epoch check
  needed; with `"direct": {"generation", "roots", "names"}`, the client may read the
  files under `roots` (real paths) that the filter in `names` says the worker records
  nothing of itself, without asking, while the published table's generation is
  `generation` (see `cluster.worker.held_names`);
- `{"bytes": n}` followed by n bytes (not all cached: read through the worker; a miss of a
  remote UFS file is sent as it is read, and the connection closed short of n bytes if
  the rest cannot be read);
- `{"status": message, "code": n, "reason": r}` for an error.

`{"path": URI, "info": true}` asks for the file's entry instead (as `GET /v1/info` answers
it, see `entries`): answered `{"entry": {...}}`, or an error as above.

A client holding such a UFS file's descriptor reads more of the file from it without
asking, and tells the worker what it read, in the background, on a connection of its
own: `{"path": URI, "noted": [[offset, length], ...]}` (with `"token"`). The worker stores
those ranges as the misses they were (`ToldReads.noted`) and never answers a note; a bad
one is dropped. A client that read a file published in the table notes that the same
way, as `"served"` instead of `"noted"`: the worker counts the hits (`ToldReads.served`).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import socket
from pathlib import Path

from ..cluster.cache.model import PageSpan
from ..cluster.errors import NotFound, RingcacheError, UfsError
from ..cluster.worker.epoch import ChangeEpoch
from ..cluster.worker.held_names import HeldNames
from ..cluster.worker.published import RENEW_SECONDS, PublishedFiles
from ..cluster.worker.reads import Reads, Reusable, UfsSpan
from ..cluster.worker.streamed import StreamedRange, relay
from ..cluster.worker.told_reads import ToldReads
from .entries import FileEntries
from .unix_lines import UnixLineServer, json_line, send_with_fds

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024
MAX_NOTED = 4096  # ranges of one note stored; any more are dropped


def socket_name(worker_id: str, port: int | str) -> str:
    """The abstract Unix socket a worker whose data server listens on `port` serves
    same-host reads on."""
    return f"\0ringcache-local-reads-{worker_id}-{port}"


class LocalReadServer:
    """Serves short-circuit reads of one worker's cache over a Unix socket.

    Guarantees: with a `token`, a request without it is answered 401 and nothing else;
    every read goes through `Reads.locate` (the same rules as any other read); a
    descriptor is handed over only for a range wholly cached, with the epoch taken before
    the range was located, so a client that finds the epoch unchanged after reading has
    read right bytes, or for a range of a local UFS file none of whose pages is cached (marked
    `ufs`: no drop from the cache changes it); one client's failure never stops the server.
    """

    def __init__(
        self,
        reads: Reads,
        told: ToldReads,
        epoch: ChangeEpoch,
        worker_id: str,
        token: str | None = None,
        *,
        port: int,
        entries: FileEntries | None = None,
    ) -> None:
        self.reads = reads
        self.told = told
        self.entries = entries
        self.token = token
        self.epoch = epoch
        self._epoch_file = json.dumps(epoch.path).encode()
        # Files readers here may read again without asking: next to the epoch's counters.
        self.published = PublishedFiles(Path(epoch.path).with_name("published-files"))
        self._published_file = json.dumps(self.published.path).encode()
        # What it records anything of, so readers here read other local files themselves.
        self.names = HeldNames(Path(epoch.path).parent, self.published.generation)
        self._grants: dict[tuple[int, tuple[str, ...]], bytes] = {}
        self._renewing: asyncio.Task | None = None
        self._in_force: tuple[object, ...] = ()
        reads.when_stored(self._stored)  # a file stored after a miss: published at once
        name = socket_name(worker_id, port)  # `port`: its data server's
        self.server = UnixLineServer(name, self._answer, MAX_LINE)

    async def start(self) -> None:
        self.reads.watch_recorded(self.names)
        await self.server.start()
        self._renewing = asyncio.get_running_loop().create_task(self._renew())

    async def _renew(self) -> None:
        """Keep the published table's lease, looking at the rules each time."""
        try:
            while True:
                self.look_at_rules()
                await asyncio.sleep(RENEW_SECONDS)
        except Exception:  # the lease lapses: readers here ask again, as before any table
            log.exception("the table of published files is no longer renewed")

    def look_at_rules(self) -> None:
        """Renew the published table's lease; if the rules or mounts in force changed
        since the last look, what it holds and what was granted under them is invalid
        first. Called by the worker too, right after it read them (`when_rules_read`):
        a rule is in force for readers here once the worker acknowledged it."""
        now_in_force = self.reads.rules_in_force()  # each replaced whole on a change
        in_force = self._in_force
        changed = len(in_force) != len(now_in_force) or any(
            old is not new for old, new in zip(in_force, now_in_force, strict=True)
        )
        self.published.renew(changed)
        self._in_force = now_in_force

    def _stored(self, uri: str) -> None:
        """Publish a file whose missed pages were just stored, if it is now wholly cached
        and reusable: its next same-host read asks nobody (the epoch taken first)."""
        epoch = self.epoch.stable()
        if epoch is not None:
            self._publish(uri, self.reads.reusable(uri), epoch)

    def _publish(self, name: str, reusable: Reusable | None, epoch: int) -> None:
        if reusable is not None:
            whole, version = reusable
            self.published.publish(
                name, whole.path, whole.offset, whole.length, epoch, version.mtime, version.etag
            )

    def _span_reply(
        self,
        found: PageSpan | UfsSpan,
        epoch: int | None,
        whole: PageSpan | None,
        generation: int = 0,
    ) -> bytes:
        """The answer line of a span handed over (formatted directly: it is on every
        same-host read's path, and its fields are numbers and one fixed path)."""
        head = b'{"offset":%d,"length":%d,"epoch":%s,"epochFile":%s,"published":%s' % (
            found.offset,
            found.length,
            b"null" if epoch is None else b"%d" % epoch,
            self._epoch_file,
            self._published_file,
        )
        if isinstance(found, UfsSpan):
            # No drop from the cache can change these bytes; the file's size as opened.
            head += b',"ufs":true,"size":%d' % found.file.status.size
            return head + self._grant(generation, found.roots) + b"}\n"
        if whole is not None and whole.path == found.path:  # reread
            return head + b',"whole":[%d,%d]}\n' % (whole.offset, whole.length)
        return head + b"}\n"

    def _grant(self, generation: int, roots: tuple[str, ...]) -> bytes:
        """The `direct` field of a UFS span's answer (see the module's doc), formatted
        once per generation and roots."""
        if not roots:
            return b""
        grant = self._grants.get((generation, roots))
        if grant is None:
            if len(self._grants) > 64:
                self._grants.clear()
            grant = self._grants[generation, roots] = (
                b',"direct":%s'
                % json.dumps(
                    {"generation": generation, "roots": roots, "names": self.names.path}
                ).encode()
            )
        return grant

    async def stop(self) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
        self.published.withdraw_all()
        self.reads.watch_recorded(None)
        self.names.close()
        await self.server.stop()

    async def _answer(self, loop: asyncio.AbstractEventLoop, client: socket.socket, line: bytes):
        # Before locating: a drop begun after it shows as a new `begun`; none in flight.
        # The rules in force too: a span answered under them grants no more than they do.
        epoch, generation = self.epoch.stable(), self.published.generation
        try:
            request = json.loads(line)
            if isinstance(request, dict) and ("noted" in request or "served" in request):
                await self._noted(request)  # never answered: its sender reads no answer
                return
            path = request["path"]
            if not self._authorized(request):
                reply = {"status": "a short-circuit read needs the cluster's token", "code": 401}
                await loop.sock_sendall(client, json_line(reply))
                return
            if request.get("info"):
                await loop.sock_sendall(client, json_line({"entry": await self._info(path)}))
                return
            offset, length = int(request["offset"]), request.get("length")
            # While pages are being dropped (no epoch), no cached span: copied bytes instead.
            found = await self.reads.locate(
                path, offset, length, cached_spans=epoch is not None, stream=True
            )
            reusable = None
            if isinstance(found, PageSpan):
                reusable = await self.reads.reusable_span(path)
        except UfsError as exc:
            reply = {"status": exc.message, "code": exc.status_code, "reason": exc.reason}
            await loop.sock_sendall(client, json_line(reply))
            return
        except RingcacheError as exc:
            await loop.sock_sendall(
                client, json_line({"status": exc.message, "code": exc.status_code})
            )
            return
        except (ValueError, KeyError, TypeError) as exc:
            await loop.sock_sendall(
                client, json_line({"status": f"bad request: {exc}", "code": 400})
            )
            return
        if isinstance(found, UfsSpan):  # the UFS file itself, as it was opened and checked
            with found.file:
                reply = self._span_reply(found, epoch, None, generation)
                await send_with_fds(loop, client, reply, [found.file.fd])
            return
        if isinstance(found, PageSpan) and found.length:
            try:
                fd = os.open(found.path, os.O_RDONLY)
            except FileNotFoundError:  # dropped since located: read it through instead
                found = await self.reads.read(path, offset, found.length)
            else:
                try:
                    if epoch is not None:
                        self._publish(path, reusable, epoch)
                    reply = self._span_reply(found, epoch, reusable and reusable.span)
                    await send_with_fds(loop, client, reply, [fd])
                finally:
                    os.close(fd)
                return
        if isinstance(found, StreamedRange):
            await _stream(loop, client, found)
            return
        data = b"" if isinstance(found, PageSpan) else found
        await loop.sock_sendall(client, json_line({"bytes": len(data)}) + data)

    async def _info(self, path: str) -> dict:
        if self.entries is None:
            raise NotFound("this worker answers no file entries on its short-circuit socket")
        return await self.entries.info(path)

    def _authorized(self, request: dict) -> bool:
        token = self.token
        return token is None or hmac.compare_digest(str(request.get("token", "")), token)

    async def _noted(self, request: dict) -> None:
        """Store the ranges a client read itself from a local UFS file handed over (see
        the module's doc); a note without the token, or bad, is dropped (logged)."""
        if not self._authorized(request):
            log.debug("a read note without the cluster's token was dropped")
            return
        try:
            path = request["path"]
            served = "served" in request
            listed = request["served" if served else "noted"][:MAX_NOTED]
            ranges = [(int(offset), int(length)) for offset, length in listed]
            await (self.told.served if served else self.told.noted)(path, ranges)
        except (RingcacheError, ValueError, KeyError, TypeError) as exc:
            log.debug("a read note was dropped: %s", exc)


async def _stream(
    loop: asyncio.AbstractEventLoop, client: socket.socket, found: StreamedRange
) -> None:
    """Send a range as the UFS answers it, each chunk while the next is read; raise
    ConnectionResetError (the connection is closed) if it ends short."""
    await loop.sock_sendall(client, json_line({"bytes": found.length}))
    sent = await relay(found, lambda chunk: loop.sock_sendall(client, chunk))
    if sent != found.length:
        raise ConnectionResetError("a streamed answer ended short: the client reads elsewhere")
