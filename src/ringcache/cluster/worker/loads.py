"""The worker's load batches from jobs: each file cached whole, one result per file."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from ..cache.store import PageStore
from ..environment import RunIo, RunLanes, UfsFactory
from ..errors import RingcacheError
from ..results import FailureReason, FileResult, failure
from ..ufs.filesystem import FileVersion, UnderFileSystem
from ..ufs.mounts import MountPoint
from .file_loader import FileLoader
from .lanes import LaneShares, LocalDisks, lanes_for
from .mount_view import MountView
from .quota import QuotaAdmission
from .throttle import Throttle, Throttles


class BatchLoads:
    """Serves `load_batch`: one result per file, never an exception for one bad file.

    Guarantees: a batch's files load in a few lanes (threads), as many as pay off (see
    `lanes`), a lane that is done helping the busiest; batches whose files are all on a
    local disk take turns.
    """

    def __init__(
        self,
        store: PageStore,
        mounts: MountView,
        loader: FileLoader,
        quota: QuotaAdmission,
        throttles: Throttles,
        local_disks: LocalDisks,
        ufs_factory: UfsFactory,
        run_io: RunIo,
        run_lanes: RunLanes,
        max_lanes: int,
        catch_up: Callable[[int], Awaitable[None]],
    ) -> None:
        """`catch_up(revision)` brings this worker's rules up to a batch's revision."""
        self.store = store
        self.mounts = mounts
        self.loader = loader
        self.quota = quota
        self.throttles = throttles
        self.local_disks = local_disks  # which mounts' files need no lanes to wait
        self.ufs_factory = ufs_factory
        self.run_io = run_io
        self.run_lanes = run_lanes
        self.max_lanes = max_lanes
        self.catch_up = catch_up
        self._local_lanes = asyncio.Lock()  # held by a batch of local-disk files

    async def make_room(self, evict: dict[str, int], keep: list[str], revision: int = 0) -> int:
        """Evict `{quota path: bytes}` under EVICT quotas, least recently used first and
        never a file of `keep` (the batch the room is for), under rules at least as new as
        `revision`; the bytes freed. The coordinator's gate asks before it sends a batch."""
        if revision:
            await self.catch_up(revision)
        return await self.run_io(self.quota.make_room, evict, set(keep))

    async def load_batch(
        self, files: list[Any], options: dict[str, Any] | None = None
    ) -> list[FileResult]:
        """Cache each file whole; one result each: LOADED, SKIPPED or FAILED with a reason.

        A file is a path, or `(path, size, mtime, etag)` as a listing saw it (saves a stat).
        Options: `skipIfExists`, `ifChanged` (skip when cached whole at the same version),
        `bandwidth` (bytes/s of UFS reads for this job on this worker), `jobId`; from the
        coordinator's quota gate, `quotaChecked` (skip this worker's own quota check) and
        `policyRevision` (the rules' revision it acted on: older rules here
        are refreshed first). A `skipCache` file is not cached: FILTERED, which a job
        counts skipped.
        """
        options = options or {}
        if options.get("policyRevision"):  # rules acknowledged before the batch apply to it
            await self.catch_up(options["policyRevision"])
        throttle = self.throttles.for_job(options.get("jobId"), options.get("bandwidth"))
        work: list[tuple[int, str, Any, str, FileVersion | None]] = []
        results: list[dict[str, Any] | None] = [None] * len(files)
        # One UFS lookup per mount point per batch: the mount, its UFS, on a local disk?
        ufs_of: dict[int, tuple[MountPoint, UnderFileSystem, bool]] = {}
        local_bytes: int | None = 0  # of the batch's files, while all are on a local disk
        for position, entry in enumerate(files):
            path, version = _entry(entry)
            try:
                try:  # the mount table we have, without a coroutine per file
                    mount, uri = self.mounts.table.resolve(path)
                except RingcacheError:  # perhaps a newer mount: read the table again
                    mount, uri = await self.mounts.resolve(path)
                if id(mount) not in ufs_of:
                    ufs_of[id(mount)] = await self._open_mount(mount)
                _, ufs, local = ufs_of[id(mount)]
            except RingcacheError as exc:  # not under a mount, or its UFS cannot be had
                results[position] = failure(path, FailureReason.INVALID_PATH, exc.message)
                continue
            if local_bytes is not None:
                local_bytes = local_bytes + version.size if local and version is not None else None
            work.append((position, path, ufs, uri, version))
        # A few lanes, each a thread that loads its share one file after another, then
        # helps the busiest lane with its queued files: one thread hop per lane rather
        # than per file, which is most of a small file's cost, and no file waits behind a
        # big or slow one in another lane.
        lanes = lanes_for(len(work), local_bytes, self.max_lanes)
        shares = LaneShares(work, lanes)
        # Local-disk batches take turns, as their lanes would only contend for the GIL.
        async with self._local_lanes if local_bytes is not None else contextlib.nullcontext():
            answers = await self.run_lanes(lanes, self.load_lane, shares, options, throttle)
        for lane_results in answers:
            for position, result in lane_results:
                results[position] = result
        return results  # type: ignore[return-value]

    async def _open_mount(self, mount: MountPoint) -> tuple[MountPoint, UnderFileSystem, bool]:
        """The mount (kept, so its id stays its), its UFS, and whether it is on a local disk
        (found out once per root, off the event loop: a network mount can block a stat)."""
        ufs = self.ufs_factory(mount.ufs, mount.options)
        root = ufs.local_path(mount.ufs)
        if root is None:
            return mount, ufs, False
        local = self.local_disks.remembered(root)
        if local is None:
            local = await self.run_io(self.local_disks.holds, root)
        return mount, ufs, local

    def load_lane(
        self, shares: LaneShares[tuple], options: dict[str, Any], throttle: Throttle | None
    ) -> list[tuple[int, dict[str, Any]]]:
        """One lane: its share of the batch, then files of busier lanes, loaded one after
        another (on an I/O thread); `(position, result)` of each."""
        done = []
        share = shares.start()
        # The page store's journal records of the lane's files go to disk together at the
        # end: one write rather than one per file, before the batch is answered.
        with self.store.journal_batch():
            while (item := shares.take(share)) is not None:
                position, path, ufs, uri, version = item
                try:
                    result = self.loader.load(ufs, uri, version, options, throttle)
                except RingcacheError as exc:
                    reason = getattr(exc, "reason", None) or exc.details.get("reason")
                    result = failure(path, reason or FailureReason.UFS_READ_FAILED, exc.message)
                except OSError as exc:
                    result = failure(path, FailureReason.UFS_READ_FAILED, str(exc))
                done.append((position, result))
        return done


_new = tuple.__new__  # skips the keyword handling of NamedTuple.__new__: one per file


def _entry(entry: Any) -> tuple[str, FileVersion | None]:
    if isinstance(entry, str):
        return entry, None
    path, size, mtime, etag = entry
    return path, _new(FileVersion, (size, mtime, etag))
