"""The worker's batch calls from jobs: load, free and list what it holds."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import TYPE_CHECKING, Any

from ..cache.layout import FileRange
from ..cache.model import DEFAULT_PRIORITY, page_runs
from ..errors import RingcacheError
from ..policies import CacheRule
from ..policies.quota_check import quota_failure
from ..results import FailureReason, failure, filtered, freed, loaded, not_cached, skipped
from ..ufs.filesystem import FileVersion, UnderFileSystem
from ..ufs.mounts import MountPoint
from .lanes import lanes_for
from .throttle import Throttle

if TYPE_CHECKING:
    pass

LOADED_BY_MEMORY = 100_000  # files remembered per worker as loaded by which job
LOCAL_RUN_PAGES = 16  # pages of a local file stored per page-store call


class BatchPath:
    """Batch work for `Worker`: one result per file, never an exception for one bad file."""

    async def load_batch(
        self, files: list[Any], options: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Cache each file whole; one result each: LOADED, SKIPPED or FAILED with a reason.

        A file is a path, or `(path, size, mtime, etag)` as a listing saw it (saves a stat).
        Options: `skipIfExists`, `ifChanged` (skip when cached whole at the same version),
        `bandwidth` (bytes/s of UFS reads for this job on this worker), `jobId`; from the
        coordinator's quota gate, `quotaChecked` (skip this worker's own quota check) and
        `evict` ({quota path: bytes} to evict first, least recently used, under EVICT
        quotas). A `skipCache` file is not cached: FILTERED, which a job counts skipped.
        """
        options = options or {}
        if options.get("evict"):  # room the coordinator's gate asked for under EVICT quotas
            batch = {_entry(entry)[0] for entry in files}
            await self.env.run_io(self._make_room, options["evict"], batch)
        throttle = self._throttle(options.get("jobId"), options.get("bandwidth"))
        work: list[tuple[int, str, Any, str, FileVersion | None]] = []
        results: list[dict[str, Any] | None] = [None] * len(files)
        # One UFS lookup per mount point per batch: the mount, its UFS, on a local disk?
        ufs_of: dict[int, tuple[MountPoint, UnderFileSystem, bool]] = {}
        local_bytes: int | None = 0  # of the batch's files, while all are on a local disk
        for position, entry in enumerate(files):
            path, version = _entry(entry)
            try:
                try:  # the mount table we have, without a coroutine per file
                    mount, uri = self.mounts.resolve(path)
                except RingcacheError:  # perhaps a newer mount: read the table again
                    mount, uri = await self._mount_of(path)
                if id(mount) not in ufs_of:
                    ufs_of[id(mount)] = await self._open_mount(mount)
                _, ufs, local = ufs_of[id(mount)]
            except RingcacheError as exc:  # not under a mount, or its UFS cannot be had
                results[position] = failure(path, FailureReason.INVALID_PATH, exc.message)
                continue
            if local_bytes is not None:
                local_bytes = local_bytes + version.size if local and version is not None else None
            work.append((position, path, ufs, uri, version))
        # A few lanes, each a thread that loads its share one file after another: one
        # thread hop per lane rather than per file, which is most of a small file's cost.
        lanes = lanes_for(len(work), local_bytes, self.config.max_batch_concurrency)
        # Local-disk batches take turns, as their lanes would only contend for the GIL.
        async with self._local_lanes if local_bytes is not None else contextlib.nullcontext():
            answers = await asyncio.gather(
                *(
                    self.env.run_io(self._load_lane, work[lane::lanes], options, throttle)
                    for lane in range(lanes)
                )
            )
        for lane_results in answers:
            for position, result in lane_results:
                results[position] = result
        return results  # type: ignore[return-value]

    async def _open_mount(self, mount: MountPoint) -> tuple[MountPoint, UnderFileSystem, bool]:
        """The mount (kept, so its id stays its), its UFS, and whether it is on a local disk
        (found out once per root, off the event loop: a network mount can block a stat)."""
        ufs = self.env.ufs_factory(mount.ufs, mount.options)
        root = ufs.local_path(mount.ufs)
        if root is None:
            return mount, ufs, False
        local = self._local_disks.remembered(root)
        if local is None:
            local = await self.env.run_io(self._local_disks.holds, root)
        return mount, ufs, local

    def _load_lane(
        self, work: list[tuple], options: dict[str, Any], throttle: Throttle | None
    ) -> list[tuple[int, dict[str, Any]]]:
        done = []
        # The page store's journal records of the lane's files go to disk together at the
        # end: one write rather than one per file, before the batch is answered.
        with self._require_store().journal_batch():
            for position, path, ufs, uri, version in work:
                try:
                    result = self._load_file(ufs, uri, version, options, throttle)
                except RingcacheError as exc:
                    reason = getattr(exc, "reason", None) or exc.details.get("reason")
                    result = failure(path, reason or FailureReason.UFS_READ_FAILED, exc.message)
                except OSError as exc:
                    result = failure(path, FailureReason.UFS_READ_FAILED, str(exc))
                done.append((position, result))
        return done

    def _load_file(
        self,
        ufs: UnderFileSystem,
        uri: str,
        version: FileVersion | None,
        options: dict[str, Any],
        throttle: Throttle | None,
    ) -> dict[str, Any]:
        store = self._require_store()
        policies = self._policies()
        if policies.any_skip and policies.cache_rule_for(uri)[0] is CacheRule.SKIP_CACHE:
            if store.file_info(uri) is not None:
                store.remove_file(uri)  # cached before the rule came: never cached again
            return filtered(uri, version.size if version else 0)
        version = version or ufs.stat(uri).version
        job_id = options.get("jobId")
        cached = store.file_info(uri)
        if cached is not None and self._expired(cached, policies, self.clock.now()):
            store.remove_file(uri)  # past its TTL: loading caches it afresh
            cached = None
        if cached is not None and cached.complete:
            # A file this same job loaded before a coordinator restart counts as loaded.
            ours = job_id is not None and self._loaded_by.get(uri) == job_id
            unchanged = cached.version == version
            if not ours and (
                options.get("skipIfExists") or (options.get("ifChanged") and unchanged)
            ):
                return skipped(uri, cached.version.size)
        # The coordinator's gate checked quotas if `quotaChecked`.
        if policies.any_quota and not options.get("quotaChecked"):
            held = cached.cached_bytes if cached is not None and cached.version == version else 0
            verdict = self._admit(uri, version.size - held, policies)
            if not verdict.allowed:
                return quota_failure(uri, verdict)
        local = ufs.local_path(uri)
        priority = None
        if cached is not None and cached.version == version:
            store.set_file(uri, version, self.clock.now())
            missing = page_runs(store.missing_pages(uri, 0, version.size))  # runs of pages
        else:  # no page is cached yet (a racing loader's are skipped)
            # A new file (or version) gets its rule's level, named here as we know it is new.
            priority = policies.priority_for(uri) if policies.any_priority else DEFAULT_PRIORITY
            pages = -(-version.size // self.config.page_size)
            missing = [(0, pages)] if pages else []
            if not missing:  # else its first pages record it, with them
                store.set_file(uri, version, self.clock.now(), priority)
        chunk = 8  # pages per ranged UFS read: fewer round trips, bounded memory
        try:
            if local is not None:
                self._copy_local(local, uri, version, missing, throttle, priority)
                missing = []
            for run_start, run_stop in missing:
                for start in range(run_start, run_stop, chunk):
                    stop = min(run_stop, start + chunk)
                    if throttle is not None:
                        throttle.consume(
                            min(version.size, stop * self.config.page_size)
                            - start * self.config.page_size
                        )
                    self._fetch_pages(ufs, uri, version, start, stop, priority=priority)
                    priority = None  # recorded: a rule changed since is the enforcer's to apply
        except BaseException:
            store.remove_file(uri)  # no half-loaded file left behind to look cached
            raise
        if job_id is not None:
            self._loaded_by[uri] = job_id
            while len(self._loaded_by) > LOADED_BY_MEMORY:
                self._loaded_by.popitem(last=False)
        return loaded(uri, version.size)

    def _copy_local(
        self,
        local: str,
        uri: str,
        version: FileVersion,
        runs: list[tuple[int, int]],
        throttle: Throttle | None,
        priority: str | None,
    ) -> None:
        """Runs `[start, stop)` of pages of a file on the local disk, copied by the kernel
        straight into the store (recording the file at `version`, at `priority` if new)."""
        store = self._require_store()
        page_size = self.config.page_size
        fd = os.open(local, os.O_RDONLY)
        try:
            for run_start, run_stop in runs:
                for start in range(run_start, run_stop, LOCAL_RUN_PAGES):
                    stop = min(run_stop, start + LOCAL_RUN_PAGES)
                    ranges = [
                        FileRange(
                            fd, index * page_size, min(page_size, version.size - index * page_size)
                        )
                        for index in range(start, stop)
                    ]
                    if throttle is not None:
                        throttle.consume(sum(page.length for page in ranges))
                    now = self.clock.now()
                    store.put_pages(uri, start, ranges, now, version=version, priority=priority)
                    priority = None  # recorded: a rule changed since is the enforcer's to apply
        finally:
            os.close(fd)

    def _throttle(self, job_id: str | None, bandwidth: int | None) -> Throttle | None:
        if not bandwidth:
            return None
        key = job_id or ""
        throttle = self._throttles.get(key)
        if throttle is None or throttle.rate != bandwidth:
            throttle = self._throttles[key] = Throttle(
                bandwidth, now=self.clock.now, sleep=self.env.blocking_sleep
            )
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
            dropped = store.remove_file(uri) if store.file_info(uri) else None
            results.append(not_cached(uri) if dropped is None else freed(uri, dropped))
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
        files = self._require_store().list_held(start_after=start_after, limit=limit)
        return [cached_entry(*held) for held in files]

    async def list_all_cached(self) -> list[dict]:
        found, cursor = [], None
        while page := await self.list_cached(cursor, 1000):
            found.extend(page)
            cursor = page[-1]["path"]
        return found


def cached_entry(path: str, version: FileVersion, cached_bytes: int, complete: bool) -> dict:
    """One file of a cache listing, as `list_cached` answers it."""
    return {
        "path": path,
        "length": version.size,
        "mtime": version.mtime,
        "etag": version.etag,
        "cachedBytes": cached_bytes,
        "complete": complete,
    }


def _entry(entry: Any) -> tuple[str, FileVersion | None]:
    if isinstance(entry, str):
        return entry, None
    path, size, mtime, etag = entry
    return path, FileVersion(size, mtime, etag)
