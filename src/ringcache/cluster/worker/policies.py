"""The worker's part in the cache policies: it knows the rules and applies them to its store.

- Rules: read at start, then polled on every heartbeat (one watch call when nothing
  changed), so a change takes effect within a heartbeat; a worker that joins later reads
  them at start like any other.
- Priority: a newly cached file gets its rule's level (`GovernedStore`); when the rules
  change, cached files move to their new level.
- TTL: expired data is a miss on read, and a scan every `ttl.scan_interval` drops it.
- Cache filter: `skipCache` data is never stored; `maxAge` data is checked against the UFS
  once it is older than the rule's time and dropped if the UFS has another version.
- Quota: this worker's check uses the usage the coordinator last published plus what this
  worker itself cached since (approximate: other workers' caching since that publish is
  unseen); the coordinator's load gate and its periodic pass do the cluster-wide part.
- File index: every change to the store is noted and handed to the coordinator when it
  asks (`drain_index_reports`); the first report after a start is of everything held.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..cache.model import CachedFile
from ..errors import InvalidArgument, NotFound
from ..policies import CacheRule, PolicySet
from ..policies.quota_check import QuotaGrowth, QuotaVerdict, check_quotas
from ..policies.tracking import GovernedStore, ReportJournal
from ..policies.watch import PolicyWatch
from ..ufs.filesystem import FileStatus, UnderFileSystem

if TYPE_CHECKING:
    from .worker import Worker

log = logging.getLogger(__name__)

REPORT_LIMIT = 5000  # files per report: bounded messages; the coordinator asks again
VALIDATED_MEMORY = 100_000  # maxAge files remembered as revalidated (forgetting costs a stat)
LIST_PAGE = 1000

ADMITTED = QuotaVerdict()  # no quota counts the file, or nothing more is needed


class PolicyPath:
    """Policy enforcement for `Worker`; the lifecycle hooks are called from `worker.py`."""

    # -- lifecycle hooks -------------------------------------------------------------------

    def _init_policies(self: Worker) -> None:
        self.policy_watch = PolicyWatch(self.registry)
        self.reports = ReportJournal()
        # What this worker cached and evicted under each quota that the usage it last saw
        # published does not count yet.
        self._quota_growth = QuotaGrowth()
        self._validated_at: OrderedDict[str, float] = OrderedDict()
        self._validated_lock = threading.Lock()  # reads revalidate on several I/O threads
        self._policy_tasks: dict[str, asyncio.Task] = {}
        self._rerun: set[str] = set()
        self._next_ttl_scan = 0.0

    async def _start_policies(self: Worker) -> None:
        """Govern the store, read the rules, and queue a report of everything held."""
        self.store = GovernedStore(self.store, self.reports, self._priority_for)
        await self.policy_watch.load(self.mounts)
        self.reports.note_all(await self.env.run_io(self._held_paths))
        self._next_ttl_scan = self.clock.now() + self.policy_watch.config.ttl.scan_interval
        self._spawn("relevel", self._relevel, again=True)  # rules may have changed meanwhile

    async def _refresh_policies(self: Worker) -> None:
        """On each heartbeat: pick up rule and usage changes, start a TTL scan when due."""
        try:
            before = self.policy_watch.policies
            change = await self.policy_watch.poll(self.mounts)
        except Exception:  # a registry hiccup: keep the rules we have, retry next beat
            log.exception("%s: could not refresh the policies", self.worker_id)
            return
        if change.usage:
            self._quota_growth.forget_before(self.policy_watch.usage_as_of)
        if change.rules and _levels_moved(before, self.policy_watch.policies):
            self._spawn("relevel", self._relevel, again=True)
        now = self.clock.now()
        interval = self.policy_watch.config.ttl.scan_interval
        # A shorter interval (the coordinator's config arriving) counts from now.
        self._next_ttl_scan = min(self._next_ttl_scan, now + interval)
        if now >= self._next_ttl_scan:
            self._next_ttl_scan = now + interval
            self._spawn("ttl", self._expire)

    def _stop_policies(self: Worker) -> None:
        for task in self._policy_tasks.values():
            task.cancel()

    def _spawn(self: Worker, name: str, work: Callable[[], int], again: bool = False) -> None:
        """Run blocking `work` on an I/O thread, one at a time per name. Asked while it runs,
        it runs once more after if `again` (so the newest rules are the last applied), else
        the ask is dropped (a scan slower than its interval does not run back to back)."""
        if name in self._policy_tasks:
            if again:
                self._rerun.add(name)
            return

        async def run() -> None:
            try:
                while True:
                    self._rerun.discard(name)
                    try:
                        count = await self.env.run_io(work)
                        if count:
                            log.info("%s: %s changed %d cached files", self.worker_id, name, count)
                    except Exception:  # the next heartbeat or rule change runs it again
                        log.exception("%s: %s failed", self.worker_id, name)
                    if name not in self._rerun or self._stopped:
                        return
            finally:
                del self._policy_tasks[name]

        self._policy_tasks[name] = asyncio.get_running_loop().create_task(run())

    # -- decisions for the read and load paths (on I/O threads) ----------------------------

    def _policies(self: Worker) -> PolicySet:
        return self.policy_watch.policies

    def _priority_for(self: Worker, path: str) -> str:
        return self.policy_watch.policies.priority_for(path)

    @staticmethod
    def _expired(info: CachedFile, policies: PolicySet, now: float) -> bool:
        ttl = policies.ttl_for(info.path)
        return ttl is not None and info.cached_at + ttl <= now

    def _servable(
        self: Worker, ufs: UnderFileSystem, uri: str, policies: PolicySet, now: float
    ) -> tuple[CachedFile | None, FileStatus | None]:
        """The cached copy of `uri` if it may be served now, else None, having dropped it.

        A copy past its TTL is dropped. A `maxAge` copy older than the rule's time (since
        it was cached or last revalidated) is checked against the UFS: dropped if the UFS
        has another version, else served for another `time`. Also returns the UFS status
        when it was looked up, so the caller need not ask again.
        """
        store = self._require_store()
        info = store.file_info(uri)
        if info is None:
            return None, None
        if self._expired(info, policies, now):
            store.remove_file(uri)
            return None, None
        rule, max_age = policies.cache_rule_for(uri)
        if rule is not CacheRule.MAX_AGE or max_age is None:
            return info, None
        with self._validated_lock:
            checked = max(info.cached_at, self._validated_at.get(uri, info.cached_at))
        if now - checked < max_age:
            return info, None
        status = ufs.stat(uri)
        with self._validated_lock:
            if status.version != info.version:
                store.remove_file(uri)
                self._validated_at.pop(uri, None)
                return None, status
            self._validated_at[uri] = now
            self._validated_at.move_to_end(uri)
            while len(self._validated_at) > VALIDATED_MEMORY:
                self._validated_at.popitem(last=False)
        return info, None

    def _admit(self: Worker, uri: str, needed: int, policies: PolicySet) -> QuotaVerdict:
        """May this worker cache `needed` more bytes of `uri`? EVICT quotas make room here.

        Counted against each quota: the usage last published plus this worker's growth
        since. An admission adds `needed` to that growth; local evictions take it off.
        Approximate across workers: what others cached since that publish is not seen.
        """
        rules = policies.quotas_for(uri)
        if not rules or needed <= 0:
            return ADMITTED
        growth, now = self._quota_growth, self.clock.now()
        with growth.lock:
            usage = self.policy_watch.usage
            verdict = check_quotas(
                rules, lambda rule: usage.get(rule.path, 0) + growth.total(rule.path), needed
            )
            if not verdict.allowed:
                return verdict
            for rule in rules:
                growth.add(now, rule.path, needed)
        for quota_path, amount in verdict.evict.items():
            freed = self._evict_under(policies, quota_path, amount, keep={uri})
            # Room made under a quota is room under each quota that contains it.
            for rule in rules:
                if quota_path == rule.path or quota_path.startswith(rule.path.rstrip("/") + "/"):
                    growth.add(now, rule.path, -freed)
        return verdict

    def _evict_under(
        self: Worker, policies: PolicySet, quota_path: str, amount: int, keep: set[str]
    ) -> int:
        """Drop the least recently used files under a quota's path until `amount` bytes are
        freed (or nothing is left but `keep`); returns the bytes freed."""
        try:
            root = policies.mounts.to_ufs_uri(quota_path)
        except InvalidArgument:  # its mount point is gone: nothing of it is cached
            return 0
        store = self._require_store()
        freed = 0
        for cached in sorted(self._files_under(root), key=lambda f: (f.last_access, f.path)):
            if freed >= amount:
                break
            if cached.path not in keep:
                freed += store.remove_file(cached.path)
        return freed

    def _make_room(self: Worker, evict: dict[str, int], keep: set[str]) -> int:
        """Evict `{quota path: bytes}` under each path, least recently used first."""
        policies = self._policies()
        return sum(
            self._evict_under(policies, path, int(amount), keep) for path, amount in evict.items()
        )

    def _files_under(self: Worker, root: str) -> Iterator[CachedFile]:
        """Every cached file at `root` or below it (on a segment boundary)."""
        store = self._require_store()
        below = root if root.endswith("/") else root + "/"
        exact = store.file_info(root)
        if exact is not None:
            yield exact
        cursor = root
        while page := store.list_files(start_after=cursor, limit=LIST_PAGE):
            for cached in page:
                if cached.path.startswith(below):
                    yield cached
                elif cached.path > below:
                    return  # sorted by path: past everything under the root
            cursor = page[-1].path

    def _all_files(self: Worker) -> Iterator[CachedFile]:
        store = self._require_store()
        cursor = None
        while page := store.list_files(start_after=cursor, limit=LIST_PAGE):
            yield from page
            cursor = page[-1].path

    def _held_paths(self: Worker) -> list[str]:
        return [cached.path for cached in self._all_files()]

    # -- background work (on I/O threads) --------------------------------------------------

    def _expire(self: Worker) -> int:
        """The TTL scan: drop every file cached longer ago than its TTL; returns how many."""
        policies = self._policies()
        if not policies.ttls.rules:
            return 0
        store, now, dropped = self._require_store(), self.clock.now(), 0
        for cached in self._all_files():
            if self._expired(cached, policies, now):
                store.remove_file(cached.path)
                dropped += 1
        return dropped

    def _relevel(self: Worker) -> int:
        """Move every cached file to the eviction level its priority rule gives now."""
        policies = self._policies()
        store, moved = self._require_store(), 0
        for cached in self._all_files():
            wanted = policies.priority_for(cached.path)
            if cached.priority == wanted:
                continue
            try:
                store.set_priority(cached.path, wanted)
                moved += 1
            except NotFound:
                continue  # dropped since it was listed: nothing left to move
        return moved

    # -- calls from the coordinator --------------------------------------------------------

    async def drain_index_reports(
        self: Worker, acked: int | None = None, limit: int = REPORT_LIMIT
    ) -> dict[str, Any]:
        """What changed in this worker's cache since the last report the caller applied.

        `acked` is the token of that report (None: none, and then everything held is
        reported, as after this worker's own start). Each file is `[path, size, mtime,
        etag, cachedBytes]` while held, `[path]` once dropped. `full`: this report starts
        a report of everything held (replace what is known of this worker); `more`: ask
        again now, the report was cut at `limit` files.
        """
        if acked is None and not self.reports.full_pending:
            # A coordinator that never heard from us (restarted, or its index is new):
            # everything we hold, so its index need not be trusted to have survived.
            self.reports.note_all(await self.env.run_io(self._held_paths))
        batch = self.reports.take(acked, limit)
        files = await self.env.run_io(self._report_states, batch.paths) if batch.paths else []
        return {"token": batch.token, "full": batch.full, "more": batch.more, "files": files}

    def _report_states(self: Worker, paths: list[str]) -> list[list[Any]]:
        return [
            [path] if held is None else [path, *held[0], held[1]]  # size, mtime, etag
            for path, held in zip(paths, self._require_store().held(paths), strict=True)
        ]

    async def lru_under(self: Worker, ufs_root: str, wanted: int) -> list[list[Any]]:
        """The least recently used files under `ufs_root`, oldest first, just enough to
        free `wanted` bytes: `[path, cachedBytes, lastAccess]` each."""

        def oldest() -> list[list[Any]]:
            found, total = [], 0
            for cached in sorted(
                self._files_under(ufs_root), key=lambda f: (f.last_access, f.path)
            ):
                if total >= wanted:
                    break
                if cached.cached_bytes:
                    found.append([cached.path, cached.cached_bytes, cached.last_access])
                    total += cached.cached_bytes
            return found

        return await self.env.run_io(oldest)

    async def evict_files(self: Worker, paths: list[str]) -> int:
        """Drop these files (a quota's eviction); returns the bytes freed."""
        store = self._require_store()
        return await self.env.run_io(lambda: sum(store.remove_file(path) for path in paths))


def _levels_moved(before: PolicySet, after: PolicySet) -> bool:
    """Whether files may now belong to another eviction level."""
    return before.priorities.rules != after.priorities.rules or _mounts(before) != _mounts(after)


def _mounts(policies: PolicySet) -> list[tuple[str, str]]:
    return [(mount.path, mount.ufs) for mount in policies.mounts.list()]
