"""How a worker copies cached pages from a peer: the seam, and its implementation over
actor calls (the simulator's, and any runtime without data servers).

The real runtimes plug in the HTTP implementation (`ringcache.dataserver.peer_client`),
which reads the peer's data server; the transfer logic (`Transfers`) is the same for all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from ..cache.page_io import FileRange, PageData, StreamRange
from ..errors import RingcacheError
from ..refs import ActorRef, Peers
from ..ring.membership import NodeRecord, node_key
from ..ufs.filesystem import FileVersion

Buffer = bytes | bytearray | memoryview
Ask = tuple[str, FileVersion, int, int]  # path, version, offset, length

PEER_UNAVAILABLE = "PEER_UNAVAILABLE"  # the peer, or its data server, could not be reached
PEER_NOT_HELD = "PEER_NOT_HELD"  # the peer does not hold that version of the range
PEER_SHORT_READ = "PEER_SHORT_READ"  # the answer ended before the range did


class PeerFetchFailed(RingcacheError):
    """A peer could not give the bytes asked; `reason` is one of the PEER_* above."""

    status_code = 503

    def __init__(self, message: str, reason: str, **details: object) -> None:
        details.pop("reason", None)
        super().__init__(message, reason=reason, **details)
        self.reason = reason


class Arriving(Protocol):
    """One file's bytes as they arrive from a peer, stored as they come."""

    def pages(self, page_size: int) -> Sequence[PageData | StreamRange]:
        """The file's pages in order, each taken from the peer as it is written."""

    def arrived(self) -> bool:
        """Whether every byte of the file has arrived: a peer vouches for a file's bytes
        only by sending its last, so pages are right only once this answers True."""


#: Takes the bytes of the i-th file asked as they arrive (on the transport's I/O thread).
FileSink = Callable[[int, Arriving], None]
#: Takes the bytes of a range asked as they arrive (on the transport's I/O thread).
RangeSink = Callable[[Arriving], None]


class PeerPages(Protocol):
    """Cached bytes of one peer, of one version of a file.

    Guarantees (the contract suite, tests/unit/worker/test_peer_pages.py): `fetch` returns
    exactly the bytes asked or raises `PeerFetchFailed` (never fewer bytes, never bytes of
    another version); `fetch_whole` answers each file whole or None, in the order asked,
    and raises `PeerFetchFailed` only when the peer cannot be reached at all. Neither
    ever makes the peer read its UFS.
    """

    async def fetch(
        self, peer: str, path: str, version: FileVersion, offset: int, length: int
    ) -> Buffer:
        """Bytes `[offset, offset + length)` (within the file) of `path` at `version`."""

    async def fetch_whole(
        self, peer: str, files: list[tuple[str, FileVersion]]
    ) -> list[Buffer | None]:
        """Each `(path, version)` whole from the peer's pages, None where it can't."""

    async def receive(
        self,
        peer: str,
        path: str,
        version: FileVersion,
        offset: int,
        length: int,
        sink: RangeSink,
    ) -> bool:
        """Bytes `[offset, offset + length)` of `path` at `version` handed to `sink` as they
        arrive; False, and nothing done, when this transport does not stream (then
        `fetch`). Raises `PeerFetchFailed` as `fetch` does, and whatever `sink` raised."""

    async def receive_whole(
        self, peer: str, files: list[tuple[str, FileVersion]], sink: FileSink
    ) -> bool:
        """Each `(path, version)` the peer holds whole handed to `sink` as its bytes arrive,
        in the order asked (those it does not hold, never); False, and nothing done, when
        this transport does not stream (then `fetch_whole`). Raises `PeerFetchFailed` when
        the peer cannot be reached or its answer is cut (the files sunk before stay so),
        and whatever `sink` raised, which ends the call."""

    async def hand_over(self, peer: str, asks: list[Ask]) -> Handed | None:
        """Where each range asked lies in the peer's own data files, when the peer is on
        this host and can say so; None when not (then `fetch` and `fetch_whole` are)."""

    def close(self) -> None:
        """Let go of what is kept open for the next fetch (connections)."""


class Handed(Protocol):
    """Ranges of a peer's data files on this host, handed over open.

    `ranges[i]` holds the bytes of the i-th range asked, at that version (None: the peer
    does not hold all of it), for as long as `unchanged()` answers True: a copy of them
    checked with it after the copy is exact (the peer dropped no page meanwhile).
    """

    ranges: list[FileRange | None]

    def unchanged(self) -> bool:
        """Whether the peer has dropped no cached byte since it located the ranges."""

    def close(self) -> None:
        """Close the descriptors handed over."""


class ActorPeerPages:
    """`PeerPages` over the peers' actor calls (`read_cached`, `read_cached_many`)."""

    def __init__(self, peers: Peers) -> None:
        self.peers = peers

    async def fetch(
        self, peer: str, path: str, version: FileVersion, offset: int, length: int
    ) -> Buffer:
        wanted = (version.size, version.mtime, version.etag)
        data = await self._call(peer, "read_cached", path, offset, length, wanted)
        if data is None:
            raise PeerFetchFailed(f"{peer} does not hold {path} at {version}", PEER_NOT_HELD)
        if len(data) != length:
            message = f"{peer} gave {len(data)} of {length} bytes of {path}"
            raise PeerFetchFailed(message, PEER_SHORT_READ)
        return data

    async def fetch_whole(
        self, peer: str, files: list[tuple[str, FileVersion]]
    ) -> list[Buffer | None]:
        items = [(path, (v.size, v.mtime, v.etag)) for path, v in files]
        answers = await self._call(peer, "read_cached_many", items)
        return [
            data if data is not None and len(data) == version.size else None
            for data, (_, version) in zip(answers, files, strict=True)
        ]

    async def receive(
        self,
        peer: str,
        path: str,
        version: FileVersion,
        offset: int,
        length: int,
        sink: RangeSink,
    ) -> bool:
        return False  # the bytes travel whole in the calls' answers

    async def receive_whole(
        self, peer: str, files: list[tuple[str, FileVersion]], sink: FileSink
    ) -> bool:
        return False  # the bytes travel whole in the calls' answers

    async def hand_over(self, peer: str, asks: list[Ask]) -> Handed | None:
        return None  # no data files to hand: the bytes travel in the calls' answers

    def close(self) -> None:
        pass  # nothing kept: each call goes through the runtime's references

    async def _call(self, peer: str, method: str, *args: object) -> object:
        try:
            return await self.peers.worker(peer).call(method, *args)
        except Exception as exc:  # a peer gone, whatever the runtime calls that
            raise PeerFetchFailed(f"{peer} unreachable: {exc}", PEER_UNAVAILABLE) from exc


class PeerAddresses:
    """Where each worker's data server listens, read from its registry record, remembered
    until `forget` (a worker that restarted may listen elsewhere)."""

    def __init__(self, registry: ActorRef) -> None:
        self.registry = registry
        self._known: dict[str, str] = {}

    async def resolve(self, worker_id: str) -> str:
        address = self._known.get(worker_id)
        if address is not None:
            return address
        try:
            kept = await self.registry.call("get", node_key(worker_id))
        except Exception as exc:
            raise PeerFetchFailed(f"no record of {worker_id}: {exc}", PEER_UNAVAILABLE) from exc
        address = NodeRecord.decode(kept.value).data_address if kept is not None else None
        if not address:
            raise PeerFetchFailed(f"{worker_id} has no data server", PEER_UNAVAILABLE)
        self._known[worker_id] = address
        return address

    def forget(self, worker_id: str) -> None:
        self._known.pop(worker_id, None)


T = TypeVar("T")


async def from_peer(asked: Awaitable[T]) -> T:
    """What a peer gave; any failure of the asking (a peer record that makes no sense, a
    fault in the transport) is the peer's: PEER_UNAVAILABLE, and the UFS is asked."""
    try:
        return await asked
    except PeerFetchFailed:
        raise
    except Exception as exc:
        message = f"asking the peer failed: {type(exc).__name__}: {exc}"
        raise PeerFetchFailed(message, PEER_UNAVAILABLE) from exc
