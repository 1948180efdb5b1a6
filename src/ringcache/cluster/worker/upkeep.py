"""Keeping the cache in line with the rules: rule refresh, TTL scans, priority levels.

- Rules: read at start, then polled on every heartbeat (one watch call when nothing
  changed), and before a load batch that carries a newer policy revision than this
  worker has seen (`catch_up`); a worker that joins later reads them at start.
- Priority: a newly cached file gets its rule's level (the store `GovernedStore` wraps);
  when the rules change, cached files move to their new level.
- TTL: expired data is a miss on read (`Freshness`), and a scan every `ttl.scan_interval`
  drops it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..cache.store import PageStore
from ..clock import Clock
from ..environment import RunIo
from ..errors import NotFound
from ..policies import PolicySet
from ..policies.watch import PolicyWatch
from .freshness import expired
from .mount_view import MountView
from .quota import QuotaAdmission
from .scans import all_files

log = logging.getLogger(__name__)


class PolicyUpkeep:
    """Refreshes this worker's rules and applies them to what it already holds.

    Guarantees: background work (the TTL scan, moving files between levels) runs off the
    event loop, one task per kind at a time; a rule change while levels are being moved
    runs the move once more after, so the newest rules are the last applied; a failure is
    logged and retried by the next heartbeat or rule change; nothing runs after `stop`.
    """

    def __init__(
        self,
        worker_id: str,
        store: PageStore,
        watch: PolicyWatch,
        mounts: MountView,
        quota: QuotaAdmission,
        clock: Clock,
        run_io: RunIo,
    ) -> None:
        self.worker_id = worker_id
        self.store = store
        self.watch = watch
        self.mounts = mounts
        self.quota = quota
        self.clock = clock
        self.run_io = run_io
        self._tasks: dict[str, asyncio.Task] = {}
        self._rerun: set[str] = set()
        self._next_ttl_scan = 0.0
        self._stopped = False

    async def load(self) -> None:
        """Read the rules afresh (at start)."""
        await self.watch.load(self.mounts.table)

    def begin(self) -> None:
        """Schedule the first TTL scan, and move files to the levels the rules now give."""
        self._next_ttl_scan = self.clock.now() + self.watch.config.ttl.scan_interval
        self._spawn("relevel", self.relevel, again=True)  # rules may have changed meanwhile

    async def refresh(self) -> None:
        """On each heartbeat: pick up rule and usage changes, start a TTL scan when due."""
        try:
            before = self.watch.policies
            change = await self.watch.poll(self.mounts.table)
        except Exception:  # a registry hiccup: keep the rules we have, retry next beat
            log.exception("%s: could not refresh the policies", self.worker_id)
            return
        if change.usage:
            self.quota.usage_published()
        if change.rules and _levels_moved(before, self.watch.policies):
            self._spawn("relevel", self.relevel, again=True)
        now = self.clock.now()
        interval = self.watch.config.ttl.scan_interval
        # A shorter interval (the coordinator's config arriving) counts from now.
        self._next_ttl_scan = min(self._next_ttl_scan, now + interval)
        if now >= self._next_ttl_scan:
            self._next_ttl_scan = now + interval
            self._spawn("ttl", self.expire)

    async def catch_up(self, revision: int) -> None:
        """Refresh first if the rules are older than `revision`: a batch carries the revision
        of the rules the coordinator acted on, so a rule acknowledged before the batch was
        sent applies to it, whenever this worker's next heartbeat comes."""
        if self.watch.seen_revision < revision:
            await self.refresh()

    def stop(self) -> None:
        self._stopped = True
        for task in self._tasks.values():
            task.cancel()

    def _spawn(self, name: str, work: Callable[[], int], again: bool = False) -> None:
        """Run blocking `work` on an I/O thread, one at a time per name. Asked while it runs,
        it runs once more after if `again` (so the newest rules are the last applied), else
        the ask is dropped (a scan slower than its interval does not run back to back)."""
        if name in self._tasks:
            if again:
                self._rerun.add(name)
            return

        async def run() -> None:
            try:
                while True:
                    self._rerun.discard(name)
                    try:
                        count = await self.run_io(work)
                        if count:
                            log.info("%s: %s changed %d cached files", self.worker_id, name, count)
                    except Exception:  # the next heartbeat or rule change runs it again
                        log.exception("%s: %s failed", self.worker_id, name)
                    if name not in self._rerun or self._stopped:
                        return
            finally:
                del self._tasks[name]

        self._tasks[name] = asyncio.get_running_loop().create_task(run())

    def expire(self) -> int:
        """The TTL scan: drop every file cached longer ago than its TTL; returns how many."""
        policies = self.watch.policies
        if not policies.ttls.rules:
            return 0
        store, now, dropped = self.store, self.clock.now(), 0
        for cached in all_files(store):
            if expired(cached, policies, now):
                store.remove_file(cached.path)
                dropped += 1
        return dropped

    def relevel(self) -> int:
        """Move every cached file to the eviction level its priority rule gives now."""
        policies = self.watch.policies
        store, moved = self.store, 0
        for cached in all_files(store):
            wanted = policies.priority_for(cached.path)
            if cached.priority == wanted:
                continue
            try:
                store.set_priority(cached.path, wanted)
                moved += 1
            except NotFound:
                continue  # dropped since it was listed: nothing left to move
        return moved


def _levels_moved(before: PolicySet, after: PolicySet) -> bool:
    """Whether files may now belong to another eviction level."""
    return before.priorities.rules != after.priorities.rules or _mounts(before) != _mounts(after)


def _mounts(policies: PolicySet) -> list[tuple[str, str]]:
    return [(mount.path, mount.ufs) for mount in policies.mounts.list()]
