"""The worker's part in moving data: serving peers, fetching from them, pruning."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..cache.model import page_runs
from ..cache.store import CapacityExceeded, PageStore
from ..clock import Clock
from ..environment import RunIo
from ..errors import InvalidArgument, RingcacheError
from ..refs import Peers
from ..results import FailureReason, FileResult, failure, freed, loaded, not_cached, skipped
from ..ring.cache import RingCache
from ..ufs.filesystem import FileVersion
from .file_loader import FileLoader
from .holdings import cached_entry
from .mount_view import MountView
from .throttle import Throttles

log = logging.getLogger(__name__)

PEER_CHUNK_PAGES = 8  # pages per peer read: bounded messages, few round trips
BUNDLE_BYTES = 8 << 20  # files up to this size travel together, up to this much per call
BUNDLE_LANES = 4  # bundle calls in flight per fetch batch

Wanted = tuple[int, float | None, str | None]  # the version a peer is asked for


class Transfers:
    """Serves a rebalance: files fetched from peers (else the UFS), served to peers, pruned.

    Guarantees: one result per file, never an exception for one file; a peer's bytes are
    kept only when they are the whole version asked (else nothing of the file is kept, and
    the UFS is asked); this worker serves peers only pages of the version they name.
    """

    def __init__(
        self,
        worker_id: str,
        store: PageStore,
        mounts: MountView,
        loader: FileLoader,
        peers: Peers,
        rings: RingCache,
        throttles: Throttles,
        clock: Clock,
        run_io: RunIo,
        page_size: int,
        max_concurrency: int,
    ) -> None:
        self.worker_id = worker_id
        self.store = store
        self.mounts = mounts
        self.loader = loader
        self.peers = peers  # other workers, for moving data between them
        self.rings = rings
        self.throttles = throttles
        self.clock = clock
        self.run_io = run_io
        self.page_size = page_size
        self.max_concurrency = max_concurrency

    async def read_cached(
        self,
        path: str,
        offset: int = 0,
        length: int | None = None,
        version: Wanted | None = None,
    ) -> bytes | None:
        """Bytes from this worker's pages only, of `version` if given; None if it can't."""
        return await self.run_io(self._read_cached, path, offset, length, version)

    def _read_cached(
        self,
        path: str,
        offset: int,
        length: int | None,
        version: Wanted | None,
    ) -> bytes | None:
        store = self.store
        if not _of_version(store.held([path])[0], version):
            return None
        return store.read(path, offset, length, self.clock.now())

    async def list_unsettled(
        self, start_after: str | None, limit: int, ring: dict[str, Any]
    ) -> dict[str, Any]:
        """The next `limit` files held after `start_after`, sorted by path, split by `ring`
        (its `ring` fingerprint, `virtualNodes`, `replicas`, and its `workers` unless this
        worker already knows that ring): `skipped`, the paths this worker owns alone and
        holds whole, which a rebalance leaves as they are; `entries`, the others, as
        `list_cached` gives them. `last` is the last path looked at; `done`, no more files.
        `{"unknownRing": true}` asks for the call again with the ring's `workers`.
        """
        if type(limit) is not int or limit < 1:
            raise InvalidArgument(f"limit must be an integer >= 1, not {limit!r}")
        shape = self.rings.get(ring["ring"])
        if shape is None:
            if "workers" not in ring:
                return {"unknownRing": True}
            # A build hashes workers x virtual nodes points: off the event loop.
            rings, workers, nodes = self.rings, ring["workers"], ring["virtualNodes"]
            policy = ring.get("ringPolicy", "alluxio")
            shape = await self.run_io(rings.get, ring["ring"], workers, nodes, policy)
        files = self.store.list_held(start_after=start_after, limit=limit)
        paths = [path for path, *_ in files]
        alone = shape.owned_alone(paths, self.worker_id, ring.get("replicas", 1))
        entries, skipped = [], []
        for held, mine in zip(files, alone, strict=True):
            if mine and held[3]:  # owned alone and held whole
                skipped.append(held[0])
            else:
                entries.append(cached_entry(*held))
        last = paths[-1] if paths else None
        return {"entries": entries, "skipped": skipped, "last": last, "done": len(files) < limit}

    async def fetch_batch(
        self, entries: list[Any], options: dict[str, Any] | None = None
    ) -> list[FileResult]:
        """Cache each file, from a peer that holds it when one can, else from the UFS.

        An entry is `(path, size, mtime, etag, [peer ids])`. Results say LOADED with
        `source` "peer" or "ufs", SKIPPED when already cached whole, or FAILED.
        """
        options = options or {}
        throttle = self.throttles.for_job(options.get("jobId"), options.get("bandwidth"))
        limit = asyncio.Semaphore(self.max_concurrency)
        from_peers = await self._fetch_bundles(entries, throttle)

        async def fetch_one(entry: Any) -> FileResult:
            path, size, mtime, etag, holders = entry
            version = FileVersion(size, mtime, etag)
            async with limit:
                if _whole(self.store.held([path])[0], version):
                    return skipped(path, size)
                try:
                    for peer in holders:
                        if peer != self.worker_id and await self._fetch_from_peer(
                            peer, path, version, throttle
                        ):
                            return loaded(path, size, "peer")
                    ufs, uri = await self.mounts.open(path)
                    await self.run_io(self.loader.load, ufs, uri, version, {}, throttle)
                except RingcacheError as exc:
                    reason = getattr(exc, "reason", None) or exc.details.get("reason")
                    return failure(path, reason or FailureReason.UFS_READ_FAILED, exc.message)
                except OSError as exc:
                    return failure(path, FailureReason.UFS_READ_FAILED, str(exc))
                return loaded(path, size, "ufs")

        # Files that came in bundles are answered here, without a task each.
        results = [loaded(e[0], e[1], "peer") if e[0] in from_peers else None for e in entries]
        rest = [i for i, result in enumerate(results) if result is None]
        fetched = await asyncio.gather(*(fetch_one(entries[i]) for i in rest))
        for i, result in zip(rest, fetched, strict=True):
            results[i] = result
        return results  # type: ignore[return-value]

    async def read_cached_many(self, items: list[tuple[str, Wanted]]) -> list[bytes | None]:
        """Whole small files from this worker's pages, of the versions asked, in one answer
        (None for each it cannot serve): one round trip instead of one per file."""

        def read_all() -> list[bytes | None]:
            store, now = self.store, self.clock.now()
            held = store.held([path for path, _ in items])
            return [
                store.read(path, 0, None, now) if _of_version(had, version) else None
                for (path, version), had in zip(items, held, strict=True)
            ]

        return await self.run_io(read_all)

    async def _fetch_bundles(self, entries: list[Any], throttle: Any) -> set[str]:
        """Files of up to BUNDLE_BYTES fetched from peers in bundles of up to that much per
        call (a file that big alone): one round trip and one store write per bundle."""
        bundles: dict[str, list[list[Any]]] = {}
        held = self.store.held([entry[0] for entry in entries])
        for entry, had in zip(entries, held, strict=True):
            path, size, _, _, holders = entry
            peer = next((h for h in holders if h != self.worker_id), None)
            if peer is None or size > BUNDLE_BYTES:
                continue
            if _whole(had, FileVersion(*entry[1:4])):
                continue  # already here: reported SKIPPED below
            groups = bundles.setdefault(peer, [[]])
            if sum(e[1] for e in groups[-1]) + size > BUNDLE_BYTES:
                groups.append([])
            groups[-1].append(entry)
        done: set[str] = set()
        # BUNDLE_LANES lanes take the bundles in order, one after another each: that many
        # calls in flight, without a task per bundle.
        ordered = [(peer, bundle) for peer, groups in sorted(bundles.items()) for bundle in groups]
        queue = iter(ordered)

        async def lane() -> None:
            for peer, bundle in queue:
                items = [(e[0], (e[1], e[2], e[3])) for e in bundle]
                try:
                    answers = await self.peers.worker(peer).call("read_cached_many", items)
                except Exception as exc:  # the files fall back to one by one, then the UFS
                    log.info("%s: bundle from %s failed: %s", self.worker_id, peer, exc)
                    continue
                if throttle is not None:
                    await self.run_io(throttle.consume, sum(len(a or b"") for a in answers))
                stored = await self.run_io(self._store_whole, bundle, answers)
                done.update(stored)

        await asyncio.gather(*(lane() for _ in range(min(BUNDLE_LANES, len(ordered)))))
        return done

    def _store_whole(self, bundle: list[Any], answers: list[bytes | None]) -> list[str]:
        """Write whole files fetched from a peer into pages; the paths stored."""
        store, page_size, stored = self.store, self.page_size, []
        for (path, size, mtime, etag, _), data in zip(bundle, answers, strict=True):
            if data is None or len(data) != size:
                continue
            version = FileVersion(size, mtime, etag)
            store.set_file(path, version, self.clock.now())
            view = memoryview(data)
            pages = [view[i : i + page_size] for i in range(0, size, page_size)]
            store.put_pages(path, 0, pages, self.clock.now(), version=version)
            stored.append(path)
        return stored

    async def _fetch_from_peer(
        self, peer: str, path: str, version: FileVersion, throttle: Any
    ) -> bool:
        """Copy a file page by page from a peer; False (nothing kept) if the peer can't."""
        store = self.store
        page_size = self.page_size
        # Recording a file writes the store's journal: disk I/O, off the event loop.
        await self.run_io(store.set_file, path, version, self.clock.now())
        try:
            missing = store.missing_pages(path, 0, version.size)
            for run_start, run_stop in page_runs(missing):
                for start in range(run_start, run_stop, PEER_CHUNK_PAGES):
                    stop = min(run_stop, start + PEER_CHUNK_PAGES)
                    offset = start * page_size
                    length = min(version.size, stop * page_size) - offset
                    if throttle is not None:
                        await self.run_io(throttle.consume, length)
                    wanted = (version.size, version.mtime, version.etag)
                    peer_ref = self.peers.worker(peer)
                    data = await peer_ref.call("read_cached", path, offset, length, wanted)
                    if data is None or len(data) != length:
                        raise LookupError(f"{peer} no longer holds {path}")
                    view = memoryview(data)
                    pages = [view[i : i + page_size] for i in range(0, length, page_size)]
                    await self.run_io(
                        store.put_pages, path, start, pages, self.clock.now(), version=version
                    )
            return True
        except CapacityExceeded:
            raise
        except Exception as exc:  # the peer is gone or lost the file: fall back to the UFS
            log.info(
                "%s: fetching %s from %s failed (%s); using the UFS",
                self.worker_id,
                path,
                peer,
                exc,
            )
            store.remove_file(path)
            return False

    async def held_whole(self, items: list[Any]) -> list[bool]:
        """For each `(path, size, mtime, etag)`, whether this worker holds that version of
        the file whole: a rebalance asks an owner before it drops the other copies."""
        held = self.store.held([item[0] for item in items])
        return [
            _whole(had, FileVersion(size, mtime, etag))
            for (_, size, mtime, etag), had in zip(items, held, strict=True)
        ]

    async def prune_batch(
        self, paths: list[str], options: dict[str, Any] | None = None
    ) -> list[FileResult]:
        """Drop files this worker no longer owns; `bandwidth` limits bytes dropped per second."""
        options = options or {}
        throttle = self.throttles.for_job(options.get("jobId"), options.get("bandwidth"))
        store = self.store
        results = []
        for path in paths:
            info = store.file_info(path)
            if info is None:
                results.append(not_cached(path))
                continue
            if throttle is not None:
                await self.run_io(throttle.consume, info.cached_bytes)
            dropped = store.remove_file(path)
            results.append(freed(path, dropped))
        return results


def _of_version(held: tuple[FileVersion, int] | None, version: tuple | None) -> bool:
    """Whether a store's `held` answer is of `version` (`(size, mtime, etag)`, or None
    for any), with a byte or more held (an empty file: recorded)."""
    return held is not None and (version is None or held[0] == FileVersion(*version))


def _whole(held: tuple[FileVersion, int] | None, version: FileVersion) -> bool:
    """Whether a store's `held` answer is all of `version`: a file's pages hold exactly
    its size in bytes when every one is there."""
    return held is not None and held[0] == version and held[1] == version.size
