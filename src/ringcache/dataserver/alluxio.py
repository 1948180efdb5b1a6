"""Alluxio's worker HTTP API, as the `alluxiofs` 1.0.x client calls it, over a worker's reads.

    GET /v1/file/{fileId}/page/{pageIndex}?ufsFullPath=URI[&offset=&length=]   page bytes
    GET /v1/range/{fileId}?ufsFullPath=URI&offset=&length=                      range bytes
    GET /v1/chunk/{fileId}?ufsFullPath=URI[&chunkSize=]                         whole file
    GET /v1/info?path=URI                 [entry]   (Alluxio's ResponseFileInfo fields)
    GET /v1/files?path=URI                [entry, ...]

`fileId` is the lowercase hex SHA-256 of the UFS URI (Alluxio's `AlluxioURI.hash()`); a
request whose `fileId` is not that of its `ufsFullPath` is refused, so a client cannot ask
for one file and be answered another.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..cluster.cache.model import PageSpan
from ..cluster.errors import InvalidArgument, NotFound, RingcacheError, UfsError
from ..cluster.worker.epoch import ChangeEpoch
from ..cluster.worker.reads import Reads, UfsSpan
from ..cluster.worker.streamed import StreamedRange
from .entries import FileEntries
from .http11 import Request, json_body

log = logging.getLogger(__name__)

_PAGE = re.compile(r"^/v1/file/([0-9a-f]{64})/page/([^/]+)$")
_RANGE = re.compile(r"^/v1/range/([0-9a-f]{64})$")
_CHUNK = re.compile(r"^/v1/chunk/([0-9a-f]{64})$")
OCTETS = "application/octet-stream"
JSON = "application/json"


@dataclass(frozen=True)
class PageSpans:
    """A body of `head` bytes, then the bytes of each span in order (sent by the kernel),
    each checked against the answer's `valid` before its last byte goes out."""

    head: bytes
    spans: list[PageSpan]

    @property
    def length(self) -> int:
        return len(self.head) + sum(span.length for span in self.spans)


@dataclass(frozen=True)
class Answer:
    """What to send: raw bytes, a span of a cache file for the kernel to send (or several,
    `PageSpans`), a span of a local UFS file (sent, then closed), or a range streamed as
    the UFS answers it."""

    status: int
    body: bytes | PageSpan | UfsSpan | PageSpans | StreamedRange
    content_type: str = OCTETS
    # For a span: whether its bytes are still right (no page dropped since it was located).
    valid: Callable[[], bool] = lambda: True


def file_id(uri: str) -> str:
    """Alluxio's id of a UFS file: the lowercase hex SHA-256 of its URI."""
    return hashlib.sha256(uri.encode("utf-8")).hexdigest()


def status_answer(status: int, message: str, **extra: object) -> Answer:
    return Answer(status, json_body({"status": message, **extra}), JSON)


class AlluxioWorkerApi:
    """Answers Alluxio's worker data calls from one worker's `Reads`.

    Guarantees: every read goes through `Reads` (cache filter, TTL, quota and mount checks,
    read-through and caching on a miss); a request outside every mount, with a bad file id,
    page index or range answers 4xx with a JSON `{"status"}`; a UFS failure answers 5xx
    with its reason; no request can stop the worker from answering the next.
    """

    def __init__(
        self,
        reads: Reads,
        entries: FileEntries,
        page_size: int,
        epoch: ChangeEpoch | None = None,
    ) -> None:
        self.reads = reads
        self.entries = entries
        self.epoch = epoch
        self.page_size = page_size

    async def answer(self, request: Request) -> Answer:
        if request.method != "GET":
            return status_answer(405, f"{request.method} is not served here; use GET")
        try:
            return await self._route(request)
        except UfsError as exc:
            code = exc.status_code if exc.status_code < 500 else 502
            return status_answer(code, exc.message, reason=exc.reason)
        except RingcacheError as exc:
            return status_answer(exc.status_code, exc.message)
        except Exception as exc:  # answered, logged, and the server goes on
            log.exception("data server: %s %s failed", request.method, request.path)
            return status_answer(500, f"internal error: {type(exc).__name__}: {exc}")

    async def _route(self, request: Request) -> Answer:
        path, query = request.path, request.query
        if match := _PAGE.match(path):
            uri = _ufs_path(query, match.group(1))
            index = _integer(match.group(2), "pageIndex")
            offset = _integer(query.get("offset", "0"), "offset")
            length = _integer(query.get("length", str(self.page_size)), "length")
            if offset >= self.page_size and self.page_size:
                raise InvalidArgument(f"offset {offset} is not within a page of {self.page_size}")
            length = min(length, self.page_size - offset)
            answer = await self._locate(uri, index * self.page_size + offset, length)
            body = answer.body
            if length and not (len(body) if isinstance(body, bytes) else body.length):
                return status_answer(416, f"page {index} is past the end of {uri}")
            return answer
        if match := _RANGE.match(path):
            uri = _ufs_path(query, match.group(1))
            offset = _integer(query.get("offset", "0"), "offset")
            length = _integer(query.get("length", "-1"), "length", allow_minus_one=True)
            return await self._locate(uri, offset, None if length == -1 else length)
        if match := _CHUNK.match(path):  # alluxiofs reads a whole file so (`read_chunked`)
            return await self._locate(_ufs_path(query, match.group(1)), 0, None)
        if path in ("/v1/info", "/v1/files"):
            target = query.get("path")
            if not target:
                raise InvalidArgument(f"{path} needs ?path=<UFS URI>")
            if path == "/v1/info":
                entries = [await self.entries.info(target)]
            else:
                entries = await self.entries.listing(target)
            return Answer(200, json_body(entries), JSON)
        raise NotFound(f"no data call at {path}")

    async def _locate(self, uri: str, offset: int, length: int | None) -> Answer:
        """The range's bytes, or where they are on disk with a check that they still are."""
        epoch = self.epoch
        if epoch is None:  # nothing drops pages behind our back (a test's store)
            return Answer(200, await self.reads.locate(uri, offset, length, stream=True))
        seen = epoch.stable()  # before locating: a drop begun after it moves `begun`
        if seen is None:  # pages are being dropped right now: no cached span, copied bytes
            found = await self.reads.locate(uri, offset, length, cached_spans=False, stream=True)
            return Answer(200, found)
        found = await self.reads.locate(uri, offset, length, stream=True)
        if isinstance(found, (UfsSpan, StreamedRange)):  # UFS bytes: no drop moves them
            return Answer(200, found)
        return Answer(200, found, valid=lambda: epoch.begun == seen)


def _ufs_path(query: dict[str, str], wanted_id: str) -> str:
    uri = query.get("ufsFullPath")
    if not uri:
        raise InvalidArgument("a data call needs ?ufsFullPath=<UFS URI>")
    if file_id(uri) != wanted_id:
        raise InvalidArgument(f"file id {wanted_id} is not the SHA-256 of {uri!r}")
    return uri


def _integer(text: str, name: str, allow_minus_one: bool = False) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InvalidArgument(f"{name} must be an integer, not {text!r}") from None
    if value < 0 and not (allow_minus_one and value == -1):
        raise InvalidArgument(f"{name} must not be negative, not {value}")
    return value
