"""The worker: a page store on local disk, filled from the UFS, kept in the ring by its lease."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..config import WorkerConfig
from .environment import Environment
from .errors import NotFound, RingcacheError, Unavailable
from .membership import NodeRecord, live_key, node_key
from .mount_registry import read_mount_table
from .mounts import MountTable
from .page_store import CapacityExceeded, PageStore
from .refs import ActorRef
from .throttle import Throttle
from .ufs import FileVersion, UnderFileSystem

log = logging.getLogger(__name__)

LOADED_BY_MEMORY = 100_000  # files remembered per worker as loaded by which job


def load_or_create_worker_id(cache_dir: Path) -> str:
    """The id kept in the cache directory, so a restarted worker keeps its identity and data."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    id_file = cache_dir / "worker-id"
    if id_file.exists():
        return id_file.read_text().strip()
    worker_id = f"worker-{uuid.uuid4()}"
    id_file.write_text(worker_id + "\n")
    return worker_id


class Worker:
    """Caches UFS files as pages on local disk and serves reads of them.

    Guarantees: a read answers the UFS bytes of the version recorded when the file was first
    cached (Alluxio's `immutable` default); a page is served only once it is whole on disk;
    the worker holds a live key in the registry exactly while its lease is kept alive.
    """

    def __init__(
        self,
        worker_id: str,
        config: WorkerConfig,
        registry: ActorRef,
        env: Environment,
        *,
        cache_dir: Path,
        lease_ttl: float,
        host: str = "127.0.0.1",
        ray_node_id: str | None = None,
    ) -> None:
        self.worker_id = worker_id
        self.config = config
        self.registry = registry
        self.env = env
        self.clock = env.clock
        self.cache_dir = cache_dir
        self.lease_ttl = lease_ttl
        self.host = host
        self.ray_node_id = ray_node_id
        self.store: PageStore | None = None
        self.mounts = MountTable([])
        self.lease = 0
        self.start_time = 0.0
        self.last_heartbeat: float | None = None
        self.counters = {"hits": 0, "misses": 0, "bytesFromCache": 0, "bytesFromUfs": 0}
        self._loaded_by: OrderedDict[str, str] = OrderedDict()
        self._throttles: dict[str, Throttle] = {}
        self._heartbeat: asyncio.Task | None = None
        self._stopped = False

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> str:
        self.store = await self.env.run_io(
            self.env.store_factory,
            self.cache_dir / "pages",
            self.config.capacity,
            self.config.page_size,
        )
        self.start_time = self.clock.now()
        self.mounts = await read_mount_table(self.registry)
        await self._register()
        self._heartbeat = asyncio.get_running_loop().create_task(self._heartbeat_loop())
        return self.worker_id

    async def _register(self) -> None:
        record = NodeRecord(
            id=self.worker_id,
            host=self.host,
            ray_node_id=self.ray_node_id,
            capacity_bytes=self.config.capacity,
            start_time=self.start_time,
        )
        self.lease = await self.registry.call("lease_grant", self.lease_ttl)
        await self.registry.call("put", node_key(self.worker_id), record.encode())
        await self.registry.call("put", live_key(self.worker_id), self.host, lease=self.lease)
        self.last_heartbeat = self.clock.now()

    async def _heartbeat_loop(self) -> None:
        while not self._stopped:
            await self.clock.sleep(self.config.heartbeat_interval)
            if self._stopped:
                break
            await self.heartbeat()

    async def heartbeat(self) -> None:
        """Keep the lease alive (re-registering if it lapsed) and pick up mount changes."""
        if self._stopped:
            return  # a stopped or decommissioned worker must not rejoin behind our back
        try:
            try:
                await self.registry.call("lease_keepalive", self.lease)
            except NotFound:
                log.warning("%s: lease lapsed, registering again", self.worker_id)
                await self._register()
            self.last_heartbeat = self.clock.now()
            self.mounts = await read_mount_table(self.registry)
        except Exception:  # the loop must outlive a registry restart; next beat retries
            log.exception("%s: heartbeat failed", self.worker_id)

    async def stop(self) -> None:
        """Stop heartbeating; the lease lapses and the ring drops this worker."""
        self._stopped = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()

    async def decommission(self) -> None:
        """Leave the cluster now: revoke the lease so the ring changes at once."""
        await self.stop()
        try:
            await self.registry.call("lease_revoke", self.lease)
        except NotFound:
            pass  # already lapsed: the goal, leaving the ring, is reached either way

    # -- reads -----------------------------------------------------------------------------

    def _ufs(self, path: str) -> tuple[UnderFileSystem, str]:
        mount, uri = self.mounts.resolve(path)
        return self.env.ufs_factory(mount.ufs, mount.options), uri

    async def _resolve(self, path: str) -> tuple[UnderFileSystem, str]:
        try:
            return self._ufs(path)
        except RingcacheError:
            self.mounts = await read_mount_table(self.registry)  # a mount may be newer than us
            return self._ufs(path)

    async def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        """Bytes `[offset, offset+length)` of a file, from the cache or, on a miss, the UFS."""
        ufs, uri = await self._resolve(path)
        return await self.env.run_io(self._read, ufs, uri, offset, length)

    def _read(self, ufs: UnderFileSystem, uri: str, offset: int, length: int | None) -> bytes:
        store = self._require_store()
        page_size = self.config.page_size
        info = store.file_info(uri)
        if info is None:
            status = ufs.stat(uri)
            store.set_file(uri, status.version, self.clock.now())
            version = status.version
        else:
            version = info.version
        size = version.size
        offset = max(0, min(offset, size))
        end = size if length is None else min(size, offset + max(0, length))
        if end <= offset:
            return b""
        first, last = offset // page_size, (end - 1) // page_size
        pages: dict[int, bytes] = {}
        for index in range(first, last + 1):
            data = store.get_page(uri, index, self.clock.now())
            if data is not None:
                pages[index] = data
        hits = len(pages)
        missing = [index for index in range(first, last + 1) if index not in pages]
        for start, stop in _runs(missing):
            pages.update(self._fetch_pages(ufs, uri, version, start, stop))
        self.counters["hits"] += hits
        self.counters["misses"] += len(missing)
        self.counters["bytesFromCache"] += sum(len(pages[i]) for i in pages if i not in missing)
        self.counters["bytesFromUfs"] += sum(len(pages[i]) for i in missing)
        data = b"".join(pages[index] for index in range(first, last + 1))
        return data[offset - first * page_size : end - first * page_size]

    def _fetch_pages(
        self, ufs: UnderFileSystem, uri: str, version: FileVersion, start: int, stop: int
    ) -> dict[int, bytes]:
        """Read pages `[start, stop)` from the UFS in one ranged read and cache them."""
        store = self._require_store()
        page_size = self.config.page_size
        offset = start * page_size
        # Pages are zero-copy views of one ranged read.
        blob = memoryview(ufs.read(uri, offset, min(version.size, stop * page_size) - offset))
        pages = {
            index: blob[(index - start) * page_size : (index - start + 1) * page_size]
            for index in range(start, stop)
        }
        for index, data in pages.items():
            try:
                store.put_page(uri, index, data, self.clock.now(), version=version)
            except CapacityExceeded:
                break  # serve the bytes anyway; the store is too small to keep them
        return pages

    def _require_store(self) -> PageStore:
        if self.store is None:
            raise Unavailable(f"{self.worker_id} has not started")
        return self.store

    # -- batches ---------------------------------------------------------------------------

    async def load_batch(
        self, files: list[Any], options: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Cache each file whole; one result each: LOADED, SKIPPED or FAILED with a reason.

        A file is a path, or `(path, size, mtime, etag)` as a listing saw it (saves a stat).
        Options: `skipIfExists`, `ifChanged` (skip when cached whole at the same version),
        `bandwidth` (bytes/s of UFS reads for this job on this worker), `jobId`.
        """
        options = options or {}
        limit = asyncio.Semaphore(self.config.max_batch_concurrency)
        throttle = self._throttle(options.get("jobId"), options.get("bandwidth"))

        async def load_one(entry: Any) -> dict[str, Any]:
            path, version = _entry(entry)
            async with limit:
                try:
                    ufs, uri = await self._resolve(path)
                    return await self.env.run_io(
                        self._load_file, ufs, uri, version, options, throttle
                    )
                except RingcacheError as exc:
                    reason = getattr(exc, "reason", None) or exc.details.get("reason")
                    return _failure(path, reason or "UFS_READ_FAILED", exc.message)
                except OSError as exc:
                    return _failure(path, "UFS_READ_FAILED", str(exc))

        return list(await asyncio.gather(*(load_one(entry) for entry in files)))

    def _load_file(
        self,
        ufs: UnderFileSystem,
        uri: str,
        version: FileVersion | None,
        options: dict[str, Any],
        throttle: Throttle | None,
    ) -> dict[str, Any]:
        store = self._require_store()
        version = version or ufs.stat(uri).version
        job_id = options.get("jobId")
        cached = store.file_info(uri)
        if cached is not None and cached.complete:
            # A file this same job loaded before a coordinator restart counts as loaded.
            ours = job_id is not None and self._loaded_by.get(uri) == job_id
            unchanged = cached.version == version
            if not ours and (
                options.get("skipIfExists") or (options.get("ifChanged") and unchanged)
            ):
                return {"path": uri, "status": "SKIPPED", "bytes": cached.version.size}
        store.set_file(uri, version, self.clock.now())
        missing = store.missing_pages(uri, 0, version.size)
        chunk = 8  # pages per ranged UFS read: fewer round trips, bounded memory
        try:
            for run_start, run_stop in _runs(missing):
                for start in range(run_start, run_stop, chunk):
                    stop = min(run_stop, start + chunk)
                    if throttle is not None:
                        throttle.consume(
                            min(version.size, stop * self.config.page_size)
                            - start * self.config.page_size
                        )
                    self._fetch_pages(ufs, uri, version, start, stop)
        except BaseException:
            store.remove_file(uri)  # no half-loaded file left behind to look cached
            raise
        if job_id is not None:
            self._loaded_by[uri] = job_id
            while len(self._loaded_by) > LOADED_BY_MEMORY:
                self._loaded_by.popitem(last=False)
        return {"path": uri, "status": "LOADED", "bytes": version.size}

    def _throttle(self, job_id: str | None, bandwidth: int | None) -> Throttle | None:
        if not bandwidth:
            return None
        key = job_id or ""
        throttle = self._throttles.get(key)
        if throttle is None or throttle.rate != bandwidth:
            throttle = self._throttles[key] = Throttle(bandwidth)
        return throttle

    async def free_batch(self, paths: list[str]) -> list[dict[str, Any]]:
        """Drop each file's cached pages; FREED with the bytes dropped, or NOT_CACHED."""
        store = self._require_store()
        results = []
        for path in paths:
            try:
                _, uri = await self._resolve(path)
            except RingcacheError:
                uri = path  # unmounted since: still drop what we hold under that name
            freed = store.remove_file(uri) if store.file_info(uri) else None
            status = "NOT_CACHED" if freed is None else "FREED"
            results.append({"path": uri, "status": status, "bytes": freed or 0})
        return results

    async def free_prefix(self, ufs_prefix: str) -> int:
        """Drop everything cached under a UFS root (an unmount); returns the bytes freed."""
        store = self._require_store()
        root = ufs_prefix.rstrip("/") + "/"
        freed = 0
        for cached in await self.list_all_cached():
            if cached["path"] == ufs_prefix or cached["path"].startswith(root):
                freed += store.remove_file(cached["path"])
        return freed

    async def list_cached(self, start_after: str | None = None, limit: int = 1000) -> list[dict]:
        """One page of what this worker holds, sorted by UFS path."""
        files = self._require_store().list_files(start_after=start_after, limit=limit)
        return [
            {
                "path": f.path,
                "length": f.version.size,
                "cachedBytes": f.cached_bytes,
                "complete": f.complete,
            }
            for f in files
        ]

    async def list_all_cached(self) -> list[dict]:
        found, cursor = [], None
        while page := await self.list_cached(cursor, 1000):
            found.extend(page)
            cursor = page[-1]["path"]
        return found

    async def stats(self) -> dict[str, Any]:
        store = self._require_store().stats()
        return {
            "id": self.worker_id,
            "capacityBytes": store.capacity_bytes,
            "usedBytes": store.used_bytes,
            "cachedFiles": store.cached_files,
            "pages": store.pages,
            "startTime": self.start_time,
            "lastHeartbeat": self.last_heartbeat,
            **self.counters,
        }


def _entry(entry: Any) -> tuple[str, FileVersion | None]:
    if isinstance(entry, str):
        return entry, None
    path, size, mtime, etag = entry
    return path, FileVersion(size, mtime, etag)


def _failure(path: str, reason: str, message: str) -> dict[str, Any]:
    return {"path": path, "status": "FAILED", "bytes": 0, "reason": reason, "message": message}


def _runs(indexes: Iterable[int]) -> list[tuple[int, int]]:
    """Contiguous runs `[start, stop)` of sorted page indexes."""
    runs: list[tuple[int, int]] = []
    for index in indexes:
        if runs and runs[-1][1] == index:
            runs[-1] = (runs[-1][0], index + 1)
        else:
            runs.append((index, index + 1))
    return runs
