"""Peers' copies over the data server: cached bytes of one version of a file, never read
through to the UFS (a rebalance moving pages between workers).

    GET /v1/peer/range/{fileId}?ufsFullPath=URI&offset=&length=&size=[&mtime=][&etag=]
    GET /v1/peer/files?files=[[URI, size, mtime, etag], ...]        (JSON, URL-quoted)

A range answers exactly `length` bytes (200, sent by `sendfile`), or 404 `{"status",
"reason": "PEER_NOT_HELD"}` when this worker does not hold every page of it at that
version (`size`, `mtime` as Python's `repr` of the float, `etag`; an absent one is None).
A files call (a bundle of small files) answers one byte per file asked (1: held whole at
that version, 0: not), then the bytes of each file held, in the order asked: one answer
for them all, as a request costs a server more than copying a small file. Each file's
bytes are sent by `sendfile` and checked before their last byte, as a range's are: an
answer cut short (the connection reset) vouches for the files that came whole before.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable

from ..cluster.cache.model import PageSpan
from ..cluster.cache.store import PageStore
from ..cluster.clock import Clock
from ..cluster.environment import RunIo
from ..cluster.errors import InvalidArgument, RingcacheError
from ..cluster.ufs.filesystem import FileVersion
from ..cluster.worker.epoch import ChangeEpoch
from ..cluster.worker.peers import PEER_NOT_HELD
from .alluxio import Answer, PageSpans, _integer, _ufs_path, status_answer
from .http11 import Request

log = logging.getLogger(__name__)

PREFIX = "/v1/peer/"
RANGE = PREFIX + "range/"
FILES = PREFIX + "files"

Handler = Callable[[Request], Awaitable[Answer]]


class PeerPagesApi:
    """Answers peers' calls from one worker's page store, pages of the version named only;
    a cached range goes out by `sendfile` with the same drop check as a client read."""

    def __init__(
        self, store: PageStore, clock: Clock, run_io: RunIo, epoch: ChangeEpoch | None
    ) -> None:
        self.store = store
        self.clock = clock
        self.run_io = run_io
        self.epoch = epoch

    def routing(self, others: Handler) -> Handler:
        """A handler that answers peer calls here and every other request by `others`."""

        async def handler(request: Request) -> Answer:
            if request.path.startswith(PREFIX):
                return await self.answer(request)
            return await others(request)

        return handler

    async def answer(self, request: Request) -> Answer:
        if request.method != "GET":
            return status_answer(405, f"{request.method} is not served here; use GET")
        try:
            if request.path == FILES:
                return await self._whole(_files(request.query.get("files")))
            if request.path.startswith(RANGE):
                return await self._range(request)
            return status_answer(404, f"no peer call at {request.path}")
        except RingcacheError as exc:
            return status_answer(exc.status_code, exc.message)
        except Exception as exc:  # answered, logged, and the server goes on
            log.exception("data server: peer call %s failed", request.path)
            return status_answer(500, f"internal error: {type(exc).__name__}: {exc}")

    async def _range(self, request: Request) -> Answer:
        query = request.query
        uri = _ufs_path(query, request.path[len(RANGE) :])
        offset = _integer(query.get("offset", "0"), "offset")
        length = _integer(query.get("length", "0"), "length")
        version = parse_version(query.get("size", ""), query.get("mtime"), query.get("etag"))
        if offset + length > version.size:
            raise InvalidArgument(f"{offset}+{length} is past the end ({version.size})")
        epoch = self.epoch
        seen = None if epoch is None else epoch.stable()
        if epoch is not None and seen is None:  # pages are being dropped: copy them now
            body = await self.run_io(self._read, uri, version, offset, length)
            valid = None
        else:  # locating is bookkeeping under the store's lock: no thread hop for it
            body = self._locate(uri, version, offset, length)
            valid = None if epoch is None else (lambda: epoch.begun == seen)
        if body is None:
            return status_answer(404, f"{uri} is not held whole at {version}", reason=PEER_NOT_HELD)
        return Answer(200, body) if valid is None else Answer(200, body, valid=valid)

    async def _whole(self, files: list[tuple[str, FileVersion]]) -> Answer:
        """A files call: the held files' spans sent by the kernel, each checked before its
        last byte; copied instead while pages are being dropped (or kept in no file)."""
        epoch = self.epoch
        seen = None if epoch is None else epoch.stable()
        if epoch is not None and seen is not None:
            flags, spans = bytearray(len(files)), []
            for i, (uri, version) in enumerate(files):
                found = self._locate(uri, version, 0, version.size)
                if isinstance(found, bytes):
                    break  # a medium that keeps no files
                if found is not None:
                    flags[i] = 1
                    spans.append(found)
            else:
                spanned = PageSpans(bytes(flags), spans)
                return Answer(200, spanned, valid=lambda: epoch.begun == seen)
        return Answer(200, await self.run_io(self._whole_files, files))

    def _locate(
        self, uri: str, version: FileVersion, offset: int, length: int
    ) -> PageSpan | bytes | None:
        store = self.store
        if not holds_version(store, uri, version):
            return None
        found = store.span(uri, offset, length, self.clock.now())
        if found is None:  # a medium that keeps no files: the bytes themselves
            return self._read(uri, version, offset, length)
        # Asked again: a new version recorded meanwhile may have replaced the pages found.
        return found if found.length == length and holds_version(store, uri, version) else None

    def _read(self, uri: str, version: FileVersion, offset: int, length: int) -> bytes | None:
        store = self.store
        if not holds_version(store, uri, version):
            return None
        data = store.read(uri, offset, length, self.clock.now())
        if data is None or len(data) != length or not holds_version(store, uri, version):
            return None
        return bytes(data)

    def _whole_files(self, files: list[tuple[str, FileVersion]]) -> bytes:
        """A byte per file (1: held whole at that version), then the held files' bytes."""
        flags, parts = bytearray(len(files)), []
        for i, (uri, version) in enumerate(files):
            data = self._read(uri, version, 0, version.size)
            if data is not None:
                flags[i] = 1
                parts.append(data)
        return b"".join([flags, *parts])


def _files(text: str | None) -> list[tuple[str, FileVersion]]:
    try:
        files = json.loads(text or "")
        if not isinstance(files, list):
            raise ValueError
        return [(_uri(uri), parse_version(str(n), mtime, etag)) for uri, n, mtime, etag in files]
    except (ValueError, TypeError):
        message = "files must be a JSON list of [ufsFullPath, size, mtime, etag]"
        raise InvalidArgument(message) from None


def _uri(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError
    return value


def holds_version(store: PageStore, uri: str, version: FileVersion) -> bool:
    held = store.held([uri])[0]
    return held is not None and held[0] == version


def parse_version(size: str, mtime: object, etag: object) -> FileVersion:
    if mtime is not None:
        try:
            mtime = float(mtime)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InvalidArgument(f"mtime must be a number, not {mtime!r}") from None
        if not math.isfinite(mtime):
            raise InvalidArgument(f"mtime must be finite, not {mtime!r}")
    if etag is not None and not isinstance(etag, str):
        raise InvalidArgument(f"etag must be a string, not {etag!r}")
    return FileVersion(_integer(size, "size"), mtime, etag)
