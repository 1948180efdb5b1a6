"""Files copied from a peer's pages into this worker's store, through `PeerPages`."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..cache.model import page_runs
from ..cache.page_io import FileRange
from ..cache.store import PageStore, SourceChanged
from ..clock import Clock
from ..environment import RunIo
from ..ufs.filesystem import FileVersion
from .peer_arrivals import PeerArrivals, byte_range
from .peers import (
    PEER_NOT_HELD,
    Buffer,
    Handed,
    PeerFetchFailed,
    PeerPages,
    from_peer,
)
from .throttle import Throttle

log = logging.getLogger(__name__)

CHUNK_BYTES = 16 << 20  # bytes per peer read of a large file: few requests, bounded memory
BUNDLE_BYTES = 8 << 20  # files up to this size travel together, up to this much per call
BUNDLE_LANES = 4  # bundle calls in flight per fetch batch
BUNDLES_PER_LANE = 2  # bundles a fetch batch is split into per lane, if large enough
MIN_BUNDLE_BYTES = 1 << 20  # never split bundles smaller than this
HANDED_FILES = 64  # files of a bundle handed over at once (a descriptor each, held open)

Entry = tuple[str, int, float | None, str | None, list[str]]  # path, size, mtime, etag, holders


class PeerCopy:
    """Copies whole files of a named version from peers into the store.

    Guarantees: a file is kept only when every byte of the version asked came from the
    peer (else nothing of it is kept); each failure is returned with the peer and its
    reason, never raised (but CapacityExceeded, which no other source would avoid);
    a large file is read in `chunk_bytes` ranges, the next one in flight while one is
    stored; small files in bundles, at most BUNDLE_LANES bundles in flight. A peer that
    hands its data files over (one on this host) has its pages copied from them by the
    kernel, each run listed only if the peer dropped no page meanwhile (else those bytes
    are asked for as from any peer); over a transport that streams, pages are stored as
    they arrive (`PeerArrivals`); waiting on a peer never holds an I/O thread.
    """

    def __init__(
        self,
        worker_id: str,
        store: PageStore,
        peer_pages: PeerPages,
        clock: Clock,
        run_io: RunIo,
        page_size: int,
    ) -> None:
        self.worker_id = worker_id
        self.store = store
        self.peer_pages = peer_pages
        self.clock = clock
        self.run_io = run_io
        self.page_size = page_size
        self.chunk_bytes = CHUNK_BYTES
        self.bundle_bytes = BUNDLE_BYTES

    @property
    def arrivals(self) -> PeerArrivals:
        """What stores pages as they arrive, over the current `peer_pages`."""
        return PeerArrivals(self.store, self.peer_pages, self.clock, self.page_size)

    async def bundles(
        self, entries: list[Entry], throttle: Throttle | None
    ) -> tuple[set[str], dict[str, tuple[str, PeerFetchFailed]]]:
        """Files of up to BUNDLE_BYTES not held whole here, fetched from their first other
        holder in bundles of up to that much per call (a file that big alone): one round
        trip and one store call per bundle. The paths stored, and `(peer, failure)` by
        path of those a peer did not give."""
        bundles: dict[str, list[list[Entry]]] = {}
        small = [
            (entry, peer)
            for entry in entries
            if entry[1] <= self.bundle_bytes
            and (peer := next((h for h in entry[4] if h != self.worker_id), None)) is not None
        ]
        # Several bundles per lane, so the lanes end together (none smaller than
        # MIN_BUNDLE_BYTES, none larger than `bundle_bytes`).
        spread = sum(entry[1] for entry, _ in small) // (BUNDLES_PER_LANE * BUNDLE_LANES)
        most = min(self.bundle_bytes, max(spread, MIN_BUNDLE_BYTES))
        filled: dict[str, int] = {}
        for entry, peer in small:
            groups = bundles.setdefault(peer, [[]])
            if groups[-1] and filled.get(peer, 0) + entry[1] > most:
                groups.append([])
                filled[peer] = 0
            groups[-1].append(entry)
            filled[peer] = filled.get(peer, 0) + entry[1]
        done: set[str] = set()
        failed: dict[str, tuple[str, PeerFetchFailed]] = {}
        # Taken in turn from each peer, so the lanes keep every peer sending.
        peers = sorted(bundles)
        ordered = [
            (peer, bundles[peer][turn])
            for turn in range(max((len(groups) for groups in bundles.values()), default=0))
            for peer in peers
            if turn < len(bundles[peer])
        ]
        queue = iter(ordered)

        async def lane() -> None:  # lanes take the bundles in order, one after another each
            for peer, bundle in queue:
                files = [(e[0], FileVersion(*e[1:4])) for e in bundle]
                stored, lacking = await self._bundle(peer, files, throttle)
                done.update(stored)
                failed.update((path, (peer, problem)) for path, problem in lacking.items())

        await asyncio.gather(*(lane() for _ in range(min(BUNDLE_LANES, len(ordered)))))
        return done, failed

    async def _bundle(
        self, peer: str, files: list[tuple[str, FileVersion]], throttle: Throttle | None
    ) -> tuple[set[str], dict[str, PeerFetchFailed]]:
        """Whole small files from `peer`: copied from its data files when it is on this
        host, else (and for those it dropped meanwhile) in one call over its data server.
        The paths stored, and why not by path for the others."""
        stored: set[str] = set()
        lacking: dict[str, PeerFetchFailed] = {}
        try:
            left: list[tuple[str, FileVersion]] = []
            for at in range(0, len(files), HANDED_FILES):
                group = files[at : at + HANDED_FILES]
                asks = [(path, version, 0, version.size) for path, version in group]
                handed = await from_peer(self.peer_pages.hand_over(peer, asks))
                if handed is None:  # not on this host, or not now
                    left += files[at:]
                    break
                stored |= await self.run_io(self._copy_whole, group, handed, throttle)
                for (path, _), where in zip(group, handed.ranges, strict=True):
                    if where is None:
                        lacking[path] = _not_whole(peer, path)
                left += [f for f in group if f[0] not in stored and f[0] not in lacking]
            files = left
            if files:
                if await self.arrivals.whole(peer, files, stored, throttle):
                    lacking.update((p, _not_whole(peer, p)) for p, _ in files if p not in stored)
                    return stored, lacking
                answers = await from_peer(self.peer_pages.fetch_whole(peer, files))
                if throttle is not None:
                    await self.run_io(throttle.consume, sum(len(a or b"") for a in answers))
                fetched = await self.run_io(self._store_whole, files, answers)
                stored.update(fetched)
                lacking.update((p, _not_whole(peer, p)) for p, _ in files if p not in fetched)
        except PeerFetchFailed as exc:
            log.info("%s: bundle from %s failed: %s", self.worker_id, peer, exc.message)
            lacking.update((p, exc) for p, _ in files if p not in stored and p not in lacking)
        return stored, lacking

    def _store_whole(
        self, files: list[tuple[str, FileVersion]], answers: list[Buffer | None]
    ) -> set[str]:
        """Whole files fetched from a peer, written into pages; the paths stored."""
        store, stored = self.store, set()
        with store.journal_batch():
            for (path, version), data in zip(files, answers, strict=True):
                if data is None or len(data) != version.size:
                    continue
                store.set_file(path, version, self.clock.now())  # with its rule's priority
                self._put(path, 0, data, version)
                stored.add(path)
        return stored

    def _copy_whole(
        self, files: list[tuple[str, FileVersion]], handed: Handed, throttle: Throttle | None
    ) -> set[str]:
        """Whole files copied from the ranges `handed` over (all closed once done); the
        paths stored. A file the peer may have dropped while copied is not kept."""
        store, stored = self.store, set()
        try:
            if throttle is not None:
                throttle.consume(sum(where.length for where in handed.ranges if where))
            with store.journal_batch():
                for (path, version), where in zip(files, handed.ranges, strict=True):
                    if where is None:
                        continue
                    store.set_file(path, version, self.clock.now())  # with its rule's priority
                    try:
                        self._copy(path, 0, where, version, handed)
                    except SourceChanged:
                        store.remove_file(path)
                        continue
                    except BaseException:
                        store.remove_file(path)
                        raise
                    stored.add(path)
        finally:
            handed.close()
        return stored

    def _copy(
        self, path: str, first: int, where: FileRange, version: FileVersion, handed: Handed
    ) -> None:
        """Pages `first, first + 1, ...` of `path` copied from `where` by the kernel."""
        size = self.page_size
        pages = [
            FileRange(where.fd, where.offset + at, min(size, where.length - at))
            for at in range(0, where.length, size)
        ]
        now = self.clock.now()
        self.store.put_pages(path, first, pages, now, version=version, unchanged=handed.unchanged)

    async def copy(
        self, peer: str, path: str, version: FileVersion, throttle: Throttle | None
    ) -> PeerFetchFailed | None:
        """Copy the pages of `path` not held here from `peer`; None once all are, else why
        not (and nothing of the file is kept)."""
        store = self.store
        # Recording a file writes the store's journal: disk I/O, off the event loop.
        await self.run_io(store.set_file, path, version, self.clock.now())
        pending: asyncio.Task | None = None
        try:
            chunk = max(1, self.chunk_bytes // self.page_size)
            ranges = [
                (start, min(run_stop, start + chunk))
                for run_start, run_stop in page_runs(store.missing_pages(path, 0, version.size))
                for start in range(run_start, run_stop, chunk)
            ]
            ranges = await self._copy_handed(peer, path, version, ranges, throttle)
            if ranges and await self.arrivals.ranges(peer, path, version, ranges, throttle):
                return None
            for i, (start, stop) in enumerate(ranges):
                if pending is None:
                    pending = asyncio.ensure_future(self._get(peer, path, version, start, stop))
                data = await pending
                pending = None
                if i + 1 < len(ranges):  # the next range travels while this one is stored
                    follow = ranges[i + 1]
                    pending = asyncio.ensure_future(self._get(peer, path, version, *follow))
                if throttle is not None:
                    await self.run_io(throttle.consume, len(data))
                await self.run_io(self._put, path, start, data, version)
            return None
        except PeerFetchFailed as exc:  # the peer is gone or lost the file
            log.info("%s: fetching %s from %s failed: %s", self.worker_id, path, peer, exc)
            await self.run_io(store.remove_file, path)
            return exc
        except BaseException:  # this store's fault (full, say): no part of the file kept
            store.remove_file(path)
            raise
        finally:
            if pending is not None:
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)

    async def _copy_handed(
        self,
        peer: str,
        path: str,
        version: FileVersion,
        ranges: list[tuple[int, int]],
        throttle: Throttle | None,
    ) -> list[tuple[int, int]]:
        """The ranges of pages copied from the peer's data files when it is on this host;
        those left for its data server (all, if it is elsewhere; those from the first the
        peer may have dropped pages of while it was copied)."""
        if not ranges:
            return ranges
        asks = [(path, version, *self._bytes(version, start, stop)) for start, stop in ranges]
        handed = await from_peer(self.peer_pages.hand_over(peer, asks))
        if handed is None:
            return ranges
        if any(where is None for where in handed.ranges):
            handed.close()
            raise _not_whole(peer, path)

        def copy_all() -> list[tuple[int, int]]:
            try:
                for i, ((start, _), where) in enumerate(zip(ranges, handed.ranges, strict=True)):
                    assert where is not None
                    if throttle is not None:
                        throttle.consume(where.length)
                    try:
                        self._copy(path, start, where, version, handed)
                    except SourceChanged:
                        return ranges[i:]
                return []
            finally:
                handed.close()

        return await self.run_io(copy_all)

    def _bytes(self, version: FileVersion, start: int, stop: int) -> tuple[int, int]:
        return byte_range(version, start, stop, self.page_size)

    async def _get(
        self, peer: str, path: str, version: FileVersion, start: int, stop: int
    ) -> Buffer:
        offset, length = self._bytes(version, start, stop)
        return await from_peer(self.peer_pages.fetch(peer, path, version, offset, length))

    def _put(self, path: str, first: int, data: Buffer, version: FileVersion) -> Any:
        """Pages `first, first + 1, ...` of `path` from `data`, in one store call."""
        view, size = memoryview(data), self.page_size
        pages = [view[i : i + size] for i in range(0, len(view), size)]
        return self.store.put_pages(path, first, pages, self.clock.now(), version=version)


def _not_whole(peer: str, path: str) -> PeerFetchFailed:
    return PeerFetchFailed(f"{peer} does not hold {path} whole", PEER_NOT_HELD)
