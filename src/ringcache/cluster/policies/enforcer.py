"""`PolicyEnforcer`: the coordinator's side of the cache policies.

Workers apply the rules to their own caches (`worker_policies.py`); what needs the whole
cluster happens here: the global file index is kept in step with what every worker holds,
quota usage is counted in it and published for the workers, load jobs pass the quota gate,
and EVICT quotas that are over are brought back down by evicting the least recently used
data under them, whichever workers hold it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..environment import Environment
from ..errors import InvalidArgument
from ..index.file_index import FileIndex
from ..refs import ActorRef, Peers
from ..ufs.mount_store import MOUNTS_PREFIX, read_mount_table
from ..ufs.mounts import MountTable
from .config import PolicyConfig
from .gate import QuotaGate
from .policy_set import PolicySet
from .rules import QuotaAction, QuotaRule
from .store import POLICIES_PREFIX
from .watch import PolicyWatch

log = logging.getLogger(__name__)

WORKER_CALL_TIMEOUT = 10.0
SYNC_CONCURRENCY = 32  # workers drained at once
APPLY_FILES = 200_000  # files of drained reports applied per index transaction, at most
REPUBLISH_AFTER = 30.0  # seconds: an unchanged usage is published again this often
# Seconds the quota gate may reuse the rules it read: a write through this coordinator
# (REST) makes it read them at once; a change made elsewhere shows within this.
RULES_REUSE = 1.0
RULE_PREFIXES = (MOUNTS_PREFIX, POLICIES_PREFIX)  # the registry keys `refresh` reads


class PolicyEnforcer:
    """Rules in force on the coordinator, the file index in step, quotas held.

    Guarantees:
    - The coordinator's policy configuration is published before anything else, so workers
      learn which features are on.
    - Every `interval`, each live worker's changes since its last applied report are in
      the file index (reports are acknowledged, so a lost one is sent again); the usage
      under each quota, as the index counts it, is published when it changed; and each
      EVICT quota over its size has its globally least recently used files evicted.
    - The file index, and so `usedBytes`, counts what workers reported: exact as of each
      worker's last report, every copy counted, partly cached files by the bytes held.
    """

    def __init__(
        self,
        config: PolicyConfig,
        registry: ActorRef,
        peers: Peers,
        env: Environment,
        file_index: FileIndex,
        live: Callable[[], set[str]],
        interval: float,
    ) -> None:
        self.config = config
        self.registry = registry
        self.peers = peers
        self.env = env
        self.file_index = file_index
        self.live = live
        self.interval = interval
        self.watch = PolicyWatch(registry, config)
        self.gate = QuotaGate(
            peers,
            file_index,
            env.run_io,
            rules=self.rules_for_batch,
            quota_roots=lambda: self.quota_roots,
            on_admitted=self.sync_worker,
            revision=lambda: self.watch.seen_revision,
        )
        self._roots: dict[str, str] = {}  # quota path -> the UFS root the index counts
        self._acked: dict[str, int] = {}
        self._syncing: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._published: dict[str, int] | None = None
        self._published_at = 0.0
        self._rules_read_at: float | None = None  # None: read the rules before the next batch
        self._task: asyncio.Task | None = None
        self._stopped = False

    async def start(self) -> None:
        await self.watch.store.publish_config(self.config)
        await self.watch.load(await read_mount_table(self.registry))
        await self._track_quota_roots()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        # The flag, not only the cancellation, ends the loop: on Python 3.11, `wait_for`
        # can swallow a cancellation that lands as its inner call completes.
        while not self._stopped:
            await self.env.clock.sleep(self.interval)
            if self._stopped:
                return
            try:
                await self.run_pass()
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad pass must not end enforcement; the next retries
                log.exception("policy enforcement pass failed")

    async def run_pass(self) -> None:
        """Sync every live worker, publish the usage, evict over EVICT quotas."""
        await self.refresh()
        started = self.env.clock.now()  # every change a worker made before is synced below
        await self.sync_all()
        await self._publish_usage(started)
        await self._evict_over_quota()

    # -- rules -----------------------------------------------------------------------------

    def rules_may_have_changed(self) -> None:
        """This coordinator wrote to the registry: the gate reads the rules again."""
        self._rules_read_at = None

    async def rules_for_batch(self) -> PolicySet:
        """The rules for a load batch: read again after a write of this coordinator's, and
        at least every RULES_REUSE seconds (a change made elsewhere), else the last read."""
        now = self.env.clock.now()
        if self._rules_read_at is not None and now - self._rules_read_at < RULES_REUSE:
            return self.watch.policies
        self._rules_read_at = now  # a write during the read below clears it again
        return await self.refresh()

    async def refresh(self) -> PolicySet:
        """The rules in force now (one watch poll), with the index counting each quota."""
        await self.watch.poll(await read_mount_table(self.registry))
        await self._track_quota_roots()
        return self.watch.policies

    async def _track_quota_roots(self) -> None:
        quotas = self.watch.policies.quotas
        roots = {rule.path: root for root, rule in quotas.by_ufs_uri.items()}
        if roots != self._roots:
            await self.env.run_io(self.file_index.track_usage, roots.values())
            self._roots = roots

    @property
    def quota_roots(self) -> dict[str, str]:
        """The UFS root the index counts for each quota in force, by the quota's path."""
        return dict(self._roots)

    async def usage_by_quota(self) -> dict[str, int]:
        """Bytes cached under each quota in force, by its cluster path (the index's count)."""
        if not self._roots:
            return {}  # no quota: nothing to read
        usage = await self.env.run_io(self.file_index.usage)
        return {path: usage.get(root, 0) for path, root in self._roots.items()}

    async def quota_usage(self, rules: Sequence[QuotaRule]) -> dict[str, int]:
        """`usedBytes` for the REST answers: counted by the index for any rule, also one
        just added (summed once) or one of a feature switched off."""
        mounts = await read_mount_table(self.registry)
        tracked = await self.env.run_io(self.file_index.usage)
        return await used_bytes(rules, mounts, self.file_index, self.env, tracked)

    async def _publish_usage(self, as_of: float) -> None:
        """Publish when the usage changed, and now and then anyway: a newer `asOf` lets
        workers drop growth that never landed (cached, then evicted at once)."""
        usage = await self.usage_by_quota()
        if usage != self._published or as_of - self._published_at >= REPUBLISH_AFTER:
            await self.watch.store.publish_usage(usage, as_of)
            self._published, self._published_at = usage, as_of

    # -- the file index --------------------------------------------------------------------

    async def sync_all(self) -> None:
        await self.sync_workers(self.live())

    async def sync_workers(self, worker_ids: Iterable[str]) -> None:
        """`sync_worker` for each of `worker_ids`, drained SYNC_CONCURRENCY at a time, with
        their reports applied together: one transaction of the file index for up to
        APPLY_FILES files of many workers (written in path order), not one per worker. A
        worker that cannot be reached is logged and synced next time; one with more to
        report than one report holds goes on alone."""
        ids = sorted(set(worker_ids))
        alone: list[str] = []  # workers left to `sync_worker`
        async with contextlib.AsyncExitStack() as held:  # released even if cancelled
            drained: list[tuple[str, dict[str, Any]]] = []
            files = 0
            for start in range(0, len(ids), SYNC_CONCURRENCY):
                group = ids[start : start + SYNC_CONCURRENCY]
                for worker_id in group:  # in sorted order, so two calls never wait on each other
                    await held.enter_async_context(self._syncing[worker_id])
                reports = await asyncio.gather(*(self._drain(worker_id) for worker_id in group))
                for worker_id, report in zip(group, reports, strict=True):
                    if report:
                        drained.append((worker_id, report))
                        files += len(report["files"])
                if files >= APPLY_FILES:
                    alone += await self._apply_drained(drained)
                    drained, files = [], 0
            alone += await self._apply_drained(drained)
        for worker_id in alone:
            await self.sync_worker(worker_id)

    async def _apply_drained(self, drained: list[tuple[str, dict[str, Any]]]) -> list[str]:
        """Apply drained reports in one transaction and acknowledge them; the workers that
        must be synced alone after (more to report, or the transaction failed)."""
        if not drained:
            return []
        try:
            await self.env.run_io(self._apply, drained)
        except Exception as exc:  # a bad report must not keep the others out
            log.warning("file index sync of %d workers failed: %s", len(drained), exc)
            return [worker_id for worker_id, _ in drained]
        for worker_id, report in drained:
            self._acked[worker_id] = report["token"]
        return [worker_id for worker_id, report in drained if report["more"]]

    async def _drain(self, worker_id: str) -> dict[str, Any] | None:
        """The worker's next report, or None (logged) if it could not be had."""
        try:
            return await self._report_of(worker_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # it sends the unapplied report again next time
            log.warning("file index sync with %s failed: %s", worker_id, exc)
            return None

    async def _report_of(self, worker_id: str) -> dict[str, Any]:
        ref = self.peers.worker(worker_id)
        call = ref.call("drain_index_reports", self._acked.get(worker_id))
        return await asyncio.wait_for(call, WORKER_CALL_TIMEOUT)

    async def sync_worker(self, worker_id: str) -> bool:
        """Apply every report `worker_id` has; False (logged) if it could not be reached."""
        async with self._syncing[worker_id]:
            try:
                while True:
                    report = await self._report_of(worker_id)
                    await self.env.run_io(self._apply, [(worker_id, report)])
                    self._acked[worker_id] = report["token"]
                    if not report["more"]:
                        return True
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # it sends the unapplied report again next time
                log.warning("file index sync with %s failed: %s", worker_id, exc)
                return False

    def _apply(self, reports: list[tuple[str, dict[str, Any]]]) -> None:
        """Workers' reports into the file index, in one transaction."""
        batch = [(worker_id, report["files"], report["full"]) for worker_id, report in reports]
        self.file_index.apply_worker_reports(batch)

    # -- EVICT quotas ----------------------------------------------------------------------

    async def _evict_over_quota(self) -> None:
        """Evict down each EVICT quota over its size, except those with gated batches in
        flight: their workers are making room as they load, and the usage counts bytes
        those batches are still replacing; the first pass after them finishes the job.
        No batch is admitted meanwhile: one would make room for the same excess."""
        async with self.gate.paused():
            busy = self.gate.busy_quotas()
            usage = await self.usage_by_quota()
            for rule in self.watch.policies.quotas.rules:
                excess = usage.get(rule.path, 0) - rule.size_bytes
                if rule.action is not QuotaAction.EVICT or excess <= 0 or rule.path in busy:
                    continue
                if rule.path in self._roots:
                    await self._evict_oldest(self._roots[rule.path], excess)

    async def _evict_oldest(self, root: str, excess: int) -> None:
        """Evict the least recently used files under `root`, cluster-wide, until `excess`
        bytes are gone. Each worker offers its own oldest files worth `excess` bytes, so the
        merged oldest-first order is the cluster's."""
        workers = sorted(self.live())
        offers = await asyncio.gather(
            *(self._call(worker_id, "lru_under", root, excess) for worker_id in workers)
        )
        candidates = sorted(
            (last_access, path, cached_bytes, worker_id)
            for worker_id, offer in zip(workers, offers, strict=True)
            for path, cached_bytes, last_access in offer or []
        )
        chosen: dict[str, list[str]] = defaultdict(list)
        freed = 0
        for _, path, cached_bytes, worker_id in candidates:
            if freed >= excess:
                break
            chosen[worker_id].append(path)
            freed += cached_bytes
        for worker_id, paths in sorted(chosen.items()):
            await self._call(worker_id, "evict_files", paths)
            await self.sync_worker(worker_id)
        log.info("evicted %d bytes under %s to stay within its quota", freed, root)

    async def _call(self, worker_id: str, method: str, *args: Any) -> Any:
        """A call to one worker; None (logged) if it fails: the next pass tries again."""
        try:
            ref = self.peers.worker(worker_id)
            return await asyncio.wait_for(ref.call(method, *args), WORKER_CALL_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s on %s failed: %s", method, worker_id, exc)
            return None


async def used_bytes(
    rules: Sequence[QuotaRule],
    mounts: MountTable,
    file_index: FileIndex,
    env: Environment,
    tracked: dict[str, int] | None = None,
) -> dict[str, int]:
    """Bytes cached under each rule's path: from `tracked` (the index's running counts by
    UFS root) where it has the root, else summed over the index entries under it."""
    used = {}
    for rule in rules:
        try:
            root = mounts.to_ufs_uri(rule.path)
        except InvalidArgument:  # its mount point is gone: nothing can be cached there
            used[rule.path] = 0
            continue
        if tracked is not None and root in tracked:
            used[rule.path] = tracked[root]
        else:  # a sum over every entry under the root: ~1 s for a million, so off the loop
            used[rule.path] = await env.run_io(file_index.cached_bytes, root)
    return used
