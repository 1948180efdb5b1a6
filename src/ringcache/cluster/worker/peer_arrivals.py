"""Files, and ranges of files, stored as their bytes arrive from a peer: on a transport
that streams (`PeerPages.receive`, `receive_whole`), the pages go from the connection
into the data files on the transport's thread, never whole into memory first."""

from __future__ import annotations

import asyncio

from ..cache.store import PageStore, SourceChanged
from ..clock import Clock
from ..ufs.filesystem import FileVersion
from .peers import PEER_SHORT_READ, Arriving, PeerFetchFailed, PeerPages, from_peer
from .throttle import Throttle

RANGE_LANES = 2  # ranges of one large file in flight (one stored while the next travels)


class PeerArrivals:
    """Stores what a peer sends as it arrives.

    Guarantees: a whole file is kept only if all its pages were stored at once after its
    last byte came (else nothing of it); a range's pages are listed only once its last
    byte came, and a range not stored whole is PEER_SHORT_READ; `False`, and nothing
    done, when the transport does not stream (the caller then fetches the bytes).
    """

    def __init__(
        self, store: PageStore, peer_pages: PeerPages, clock: Clock, page_size: int
    ) -> None:
        self.store = store
        self.peer_pages = peer_pages
        self.clock = clock
        self.page_size = page_size

    async def whole(
        self,
        peer: str,
        files: list[tuple[str, FileVersion]],
        stored: set[str],
        throttle: Throttle | None,
    ) -> bool:
        """Whole files from `peer`, each path added to `stored` once it is."""
        store = self.store

        def sink(i: int, arriving: Arriving) -> None:
            path, version = files[i]
            if throttle is not None:
                throttle.consume(version.size)
            store.set_file(path, version, self.clock.now())  # with its rule's priority
            pages = arriving.pages(self.page_size)
            try:
                now = self.clock.now()
                store.put_pages(path, 0, pages, now, version=version, unchanged=arriving.arrived)
            except SourceChanged:  # not all stored at once: nothing of it kept
                store.remove_file(path)
                return
            except BaseException:
                store.remove_file(path)
                raise
            stored.add(path)

        return await from_peer(self.peer_pages.receive_whole(peer, files, sink))

    async def ranges(
        self,
        peer: str,
        path: str,
        version: FileVersion,
        ranges: list[tuple[int, int]],
        throttle: Throttle | None,
    ) -> bool:
        """The ranges of pages `[start, stop)` of `path` from `peer`, RANGE_LANES at once.
        Raises the first failure once no range is being stored any more (so none is
        stored after it, and the caller may drop the file)."""
        if not await self._range(peer, path, version, *ranges[0], throttle):
            return False
        queue, failures = iter(ranges[1:]), []

        async def lane() -> None:
            for start, stop in queue:
                if failures:
                    return
                try:
                    await self._range(peer, path, version, start, stop, throttle)
                except BaseException as exc:  # one per lane at most: it ends
                    failures.append(exc)

        await asyncio.gather(*(lane() for _ in range(RANGE_LANES)))
        if failures:
            raise failures[0]
        return True

    async def _range(
        self,
        peer: str,
        path: str,
        version: FileVersion,
        start: int,
        stop: int,
        throttle: Throttle | None,
    ) -> bool:
        offset, length = byte_range(version, start, stop, self.page_size)
        store, page_size = self.store, self.page_size

        def sink(arriving: Arriving) -> None:
            if throttle is not None:
                throttle.consume(length)
            now, pages = self.clock.now(), arriving.pages(page_size)
            try:
                store.put_pages(
                    path, start, pages, now, version=version, unchanged=arriving.arrived
                )
            except SourceChanged:  # not all stored at once: asked of the UFS instead
                raise PeerFetchFailed(f"{peer}: {path} not stored whole", PEER_SHORT_READ) from None

        return await from_peer(self.peer_pages.receive(peer, path, version, offset, length, sink))


def byte_range(version: FileVersion, start: int, stop: int, page_size: int) -> tuple[int, int]:
    """`(offset, length)` of pages `[start, stop)` of a file at `version`."""
    offset = start * page_size
    return offset, min(version.size, stop * page_size) - offset
