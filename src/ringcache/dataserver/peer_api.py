"""Peers' copies over the data server: cached bytes of one version of a file, never read
through to the UFS (a rebalance moving pages between workers).

    GET /v1/peer/range/{fileId}?ufsFullPath=URI&offset=&length=&size=[&mtime=][&etag=]

answers exactly `length` bytes (200), or 404 `{"status", "reason": "PEER_NOT_HELD"}` when
this worker does not hold every page of the range at that version (`size`, `mtime` as
Python's `repr` of the float, `etag`; an absent one is None).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from ..cluster.cache.model import PageSpan
from ..cluster.cache.store import PageStore
from ..cluster.clock import Clock
from ..cluster.environment import RunIo
from ..cluster.errors import InvalidArgument, RingcacheError
from ..cluster.ufs.filesystem import FileVersion
from ..cluster.worker.epoch import ChangeEpoch
from ..cluster.worker.peers import PEER_NOT_HELD
from .alluxio import Answer, _integer, _ufs_path, status_answer
from .http11 import Request

log = logging.getLogger(__name__)

PREFIX = "/v1/peer/range/"


class PeerPagesApi:
    """Answers peers' range calls from one worker's page store, pages of the version named
    only; a cached range goes out by `sendfile` with the same drop check as a client read."""

    def __init__(
        self, store: PageStore, clock: Clock, run_io: RunIo, epoch: ChangeEpoch | None
    ) -> None:
        self.store = store
        self.clock = clock
        self.run_io = run_io
        self.epoch = epoch

    def routing(self, others: Callable) -> Callable:
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
            query = request.query
            uri = _ufs_path(query, request.path[len(PREFIX) :])
            offset = _integer(query.get("offset", "0"), "offset")
            length = _integer(query.get("length", "0"), "length")
            version = FileVersion(
                _integer(query.get("size", ""), "size"),
                _mtime(query.get("mtime")),
                query.get("etag"),
            )
            if offset + length > version.size:
                raise InvalidArgument(f"{offset}+{length} is past the end ({version.size})")
        except RingcacheError as exc:
            return status_answer(exc.status_code, exc.message)
        epoch = self.epoch
        seen = None if epoch is None else epoch.stable()
        copy = epoch is not None and seen is None  # pages are being dropped: copy them now
        try:
            body = await self.run_io(self._locate, uri, version, offset, length, copy)
        except Exception as exc:  # answered, logged, and the server goes on
            log.exception("data server: peer read of %s failed", uri)
            return status_answer(500, f"internal error: {type(exc).__name__}: {exc}")
        if body is None:
            return status_answer(404, f"{uri} is not held whole at {version}", reason=PEER_NOT_HELD)
        if epoch is None or copy or not isinstance(body, PageSpan):
            return Answer(200, bytes(body) if isinstance(body, memoryview) else body)
        return Answer(200, body, valid=lambda: epoch.begun == seen)

    def _locate(
        self, uri: str, version: FileVersion, offset: int, length: int, copy: bool
    ) -> PageSpan | bytes | memoryview | None:
        store, now = self.store, self.clock.now()
        if not _holds(store, uri, version):
            return None
        found = None if copy else store.span(uri, offset, length, now)
        if found is None:
            found = store.read(uri, offset, length, now)
        size = found.length if isinstance(found, PageSpan) else len(found or b"")
        # Asked again: a new version recorded meanwhile may have replaced the pages found.
        if found is None or size != length or not _holds(store, uri, version):
            return None
        return found


def _holds(store: PageStore, uri: str, version: FileVersion) -> bool:
    held = store.held([uri])[0]
    return held is not None and held[0] == version


def _mtime(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InvalidArgument(f"mtime must be a number, not {text!r}") from None
    if not math.isfinite(value):
        raise InvalidArgument(f"mtime must be finite, not {text!r}")
    return value
