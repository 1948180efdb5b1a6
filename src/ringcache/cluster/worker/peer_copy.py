"""Files copied from a peer's pages into this worker's store, through `PeerPages`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from ..cache.model import page_runs
from ..cache.store import PageStore
from ..clock import Clock
from ..environment import RunIo
from ..ufs.filesystem import FileVersion
from .peers import PEER_NOT_HELD, PEER_UNAVAILABLE, Buffer, PeerFetchFailed, PeerPages
from .throttle import Throttle

log = logging.getLogger(__name__)

T = TypeVar("T")

CHUNK_BYTES = 16 << 20  # bytes per peer read of a large file: few requests, bounded memory
BUNDLE_BYTES = 8 << 20  # files up to this size travel together, up to this much per call
BUNDLE_LANES = 4  # bundle calls in flight per fetch batch

Entry = tuple[str, int, float | None, str | None, list[str]]  # path, size, mtime, etag, holders


class PeerCopy:
    """Copies whole files of a named version from peers into the store.

    Guarantees: a file is kept only when every byte of the version asked came from the
    peer (else nothing of it is kept); each failure is returned with the peer and its
    reason, never raised (but CapacityExceeded, which no other source would avoid);
    a large file is read in `chunk_bytes` ranges, the next one in flight while one is
    stored; small files in bundles, at most BUNDLE_LANES bundles in flight.
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

    async def bundles(
        self, entries: list[Entry], throttle: Throttle | None
    ) -> tuple[set[str], dict[str, tuple[str, PeerFetchFailed]]]:
        """Files of up to BUNDLE_BYTES not held whole here, fetched from their first other
        holder in bundles of up to that much per call (a file that big alone): one round
        trip and one store call per bundle. The paths stored, and `(peer, failure)` by
        path of those a peer did not give."""
        bundles: dict[str, list[list[Entry]]] = {}
        for entry in entries:
            path, size, _, _, holders = entry
            peer = next((h for h in holders if h != self.worker_id), None)
            if peer is None or size > self.bundle_bytes:
                continue
            groups = bundles.setdefault(peer, [[]])
            if sum(e[1] for e in groups[-1]) + size > self.bundle_bytes:
                groups.append([])
            groups[-1].append(entry)
        done: set[str] = set()
        failed: dict[str, tuple[str, PeerFetchFailed]] = {}
        ordered = [(peer, bundle) for peer, groups in sorted(bundles.items()) for bundle in groups]
        queue = iter(ordered)

        async def lane() -> None:  # lanes take the bundles in order, one after another each
            for peer, bundle in queue:
                files = [(e[0], FileVersion(*e[1:4])) for e in bundle]
                try:
                    answers = await _from_peer(self.peer_pages.fetch_whole(peer, files))
                except PeerFetchFailed as exc:
                    log.info("%s: bundle from %s failed: %s", self.worker_id, peer, exc.message)
                    failed.update((e[0], (peer, exc)) for e in bundle)
                    continue
                if throttle is not None:
                    await self.run_io(throttle.consume, sum(len(a or b"") for a in answers))
                stored = await self.run_io(self._store_whole, files, answers)
                done.update(stored)
                for path, _ in files:
                    if path not in stored:
                        message = f"{peer} does not hold {path} whole"
                        failed[path] = (peer, PeerFetchFailed(message, PEER_NOT_HELD))

        await asyncio.gather(*(lane() for _ in range(min(BUNDLE_LANES, len(ordered)))))
        return done, failed

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

    async def _get(
        self, peer: str, path: str, version: FileVersion, start: int, stop: int
    ) -> Buffer:
        offset = start * self.page_size
        length = min(version.size, stop * self.page_size) - offset
        return await _from_peer(self.peer_pages.fetch(peer, path, version, offset, length))

    def _put(self, path: str, first: int, data: Buffer, version: FileVersion) -> Any:
        """Pages `first, first + 1, ...` of `path` from `data`, in one store call."""
        view, size = memoryview(data), self.page_size
        pages = [view[i : i + size] for i in range(0, len(view), size)]
        return self.store.put_pages(path, first, pages, self.clock.now(), version=version)


async def _from_peer(asked: Awaitable[T]) -> T:
    """What a peer gave; any failure of the asking (a peer record that makes no sense, a
    fault in the transport) is the peer's: PEER_UNAVAILABLE, and the UFS is asked."""
    try:
        return await asked
    except PeerFetchFailed:
        raise
    except Exception as exc:
        message = f"asking the peer failed: {type(exc).__name__}: {exc}"
        raise PeerFetchFailed(message, PEER_UNAVAILABLE) from exc
