"""The worker's part in moving data: serving peers, fetching from them, pruning."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..cache.store import PageStore
from ..clock import Clock
from ..environment import RunIo
from ..errors import InvalidArgument, RingcacheError
from ..results import FailureReason, FileResult, failure, freed, loaded, not_cached, skipped
from ..ring.cache import RingCache
from ..ufs.filesystem import FileVersion
from .file_loader import FileLoader
from .holdings import cached_entry
from .mount_view import MountView
from .peer_copy import PeerCopy
from .peers import PeerFetchFailed
from .throttle import Throttles

log = logging.getLogger(__name__)

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
        copier: PeerCopy,
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
        self.copier = copier  # files from other workers' pages
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
        `source` "peer" or "ufs", SKIPPED when already cached whole, or FAILED. A file a
        peer could not give and the UFS did is LOADED from "ufs" with the peer's failure
        as its `reason` (PEER_UNAVAILABLE, PEER_NOT_HELD, PEER_SHORT_READ) and `message`.
        """
        options = options or {}
        throttle = self.throttles.for_job(options.get("jobId"), options.get("bandwidth"))
        limit = asyncio.Semaphore(self.max_concurrency)
        held = self.store.held([entry[0] for entry in entries])
        wanted = [e for e, had in zip(entries, held, strict=True) if not _whole(had, _of(e))]
        from_peers, peer_failed = await self.copier.bundles(wanted, throttle)

        async def fetch_one(entry: Any) -> FileResult:
            path, size, _, _, holders = entry
            version = _of(entry)
            tried, problem = peer_failed.get(path, (None, None))
            async with limit:
                if _whole(self.store.held([path])[0], version):
                    return skipped(path, size)
                try:
                    for peer in holders:
                        if peer in (self.worker_id, tried):
                            continue
                        problem = await self.copier.copy(peer, path, version, throttle)
                        if problem is None:
                            return loaded(path, size, "peer")
                    ufs, uri = await self.mounts.open(path)
                    await self.run_io(self.loader.load, ufs, uri, version, {}, throttle)
                except RingcacheError as exc:
                    reason = getattr(exc, "reason", None) or exc.details.get("reason")
                    message = exc.message + _after(problem)
                    return failure(path, reason or FailureReason.UFS_READ_FAILED, message)
                except OSError as exc:
                    return failure(path, FailureReason.UFS_READ_FAILED, str(exc) + _after(problem))
                if problem is None:
                    return loaded(path, size, "ufs")
                return loaded(path, size, "ufs", problem.reason, problem.message)

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


def _of(entry: Any) -> FileVersion:
    """The version an entry `(path, size, mtime, etag, holders)` names."""
    return FileVersion(entry[1], entry[2], entry[3])


def _after(problem: PeerFetchFailed | None) -> str:
    """What a failure message adds about the peer tried first."""
    return "" if problem is None else f" (after the peer failed: {problem.message})"


def _whole(held: tuple[FileVersion, int] | None, version: FileVersion) -> bool:
    """Whether a store's `held` answer is all of `version`: a file's pages hold exactly
    its size in bytes when every one is there."""
    return held is not None and held[0] == version and held[1] == version.size
